"""benchmarks/bench_geometry_synth.py: the detector-box variant of its development scenes."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_geometry_synth as bench


def _scene(tmp_path: Path) -> Path:
    root = tmp_path / "hard-7301"
    for sub in ("frames/cam1", "gt"):
        (root / sub).mkdir(parents=True)
    (root / "gt" / "cam1.txt").write_text("1,1,10,10,20,40,1,-1,-1,-1\n")
    return root


def test_detector_tracks_detect_and_track_once_beside_the_scene(tmp_path, monkeypatch):
    root = _scene(tmp_path)
    calls: list[str] = []

    def fake_detect(scene, cfg, overwrite):
        assert cfg.imgsz == bench.DET_IMGSZ and not cfg.from_gt
        calls.append("detect")

    def fake_track(scene, features, overwrite):
        assert features == "none"
        (Path(scene.root) / "tracks").mkdir(exist_ok=True)
        (Path(scene.root) / "tracks" / "cam1.txt").write_text("")
        calls.append("track")

    monkeypatch.setattr(bench, "run_detect", fake_detect)
    monkeypatch.setattr(bench, "run_track", fake_track)
    out = bench.detector_tracks(root, tmp_path / "hard-7301-det")
    assert calls == ["detect", "track"]
    assert (out / "frames").resolve() == (root / "frames").resolve()
    assert (out / "gt" / "cam1.txt").read_text() == (root / "gt" / "cam1.txt").read_text()
    assert not (out / "videos").exists()  # only what the scene has is linked
    assert bench.detector_tracks(root, out) == out
    assert calls == ["detect", "track"]  # the second call reuses the tracks
    (out / "tracks" / "cam1.txt").unlink()  # as if interrupted before the camera's tracks
    bench.detector_tracks(root, out)
    assert calls == ["detect", "track"] * 2


def test_boxes_option_names_what_the_geometry_is_fitted_on():
    args = bench.build_parser().parse_args(["--boxes", "det"])
    assert args.boxes == "det"
    assert bench.build_parser().parse_args([]).boxes == "gt"
    assert set(bench.TRACKS) == {"gt", "det"}
