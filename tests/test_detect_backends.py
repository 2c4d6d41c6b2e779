"""Tests of the detector's backends: torch, ONNX Runtime and OpenVINO."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from test_detect import SMALL, _cli, _drawn_scene, _one_line_error, run_offline

from mcmot import detect_backends
from mcmot.detect_backends import (
    TOLERANCE,
    Agreement,
    agreement,
    export_onnx,
    resolve_backend,
)
from mcmot.detectors import DEFAULT_CONF, FrameDetections, PersonDetector
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.runtimes import backend_installed, install_hint

PT = Path("/models/yolo11n-pose.pt")
#: PETS09-S2L1 frames compared across backends (5-8 people each).
PETS_FRAMES = (50, 600)


def _installed_only(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    monkeypatch.setattr(detect_backends, "backend_installed", lambda b: b == "torch" or b in names)


def _device(monkeypatch: pytest.MonkeyPatch, resolved: str) -> None:
    monkeypatch.setattr(detect_backends, "resolve_device", lambda d: resolved)


# ------------------------------------------------------------------ choosing


def test_auto_backend_is_the_fastest_installed_on_cpu(monkeypatch):
    _device(monkeypatch, "cpu")
    _installed_only(monkeypatch, "onnx", "openvino")
    assert resolve_backend("auto", "auto", PT) == ("openvino", "cpu")
    _installed_only(monkeypatch, "onnx")
    assert resolve_backend("auto", "auto", PT) == ("onnx", "cpu")
    _installed_only(monkeypatch)
    assert resolve_backend("auto", "cpu", PT) == ("torch", "cpu")


def test_auto_backend_is_torch_on_cuda_and_for_exported_weights(monkeypatch):
    _installed_only(monkeypatch, "onnx", "openvino")
    _device(monkeypatch, "cuda:0")
    assert resolve_backend("auto", "auto", PT) == ("torch", "cuda:0")
    _device(monkeypatch, "cpu")
    assert resolve_backend("auto", "auto", Path("m.onnx")) == ("torch", "cpu")


def test_runtime_backend_runs_on_the_cpu_from_a_checkpoint(monkeypatch):
    _installed_only(monkeypatch, "onnx")
    assert resolve_backend("onnx", "auto", PT) == ("onnx", "cpu")
    with pytest.raises(McmotError, match="runs on the CPU; use --device cpu or --backend torch"):
        resolve_backend("onnx", "cuda:0", PT)
    with pytest.raises(McmotError, match="m.onnx is none; use --backend torch"):
        resolve_backend("onnx", "cpu", Path("m.onnx"))
    with pytest.raises(McmotError, match="bad backend 'tpu'"):
        resolve_backend("tpu", "cpu", PT)
    with pytest.raises(McmotError, match=r"not installed: pip install 'mcmot\[openvino\]'"):
        resolve_backend("openvino", "cpu", PT)


@pytest.mark.parametrize(("backend", "module"), [("onnx", "onnxruntime"), ("openvino", "openvino")])
def test_missing_runtime_is_one_line_naming_the_pip_extra(tmp_path, monkeypatch, backend, module):
    _drawn_scene(tmp_path, {"a": 1})
    monkeypatch.setitem(sys.modules, module, None)  # find_spec then finds nothing
    r = _cli("detect", tmp_path, "--backend", backend)
    _one_line_error(r, f"backend {backend} is not installed", install_hint(backend))
    assert not (tmp_path / "det").exists() and not (tmp_path / "cache").exists()


def test_missing_exporter_is_one_line_naming_the_pip_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"w")
    with pytest.raises(McmotError, match=r"needs onnx: pip install 'mcmot\[onnx\]'"):
        export_onnx(weights, (64, 96), tmp_path / "cache")
    assert not (tmp_path / "cache").exists()


# ------------------------------------------------------------------ the export cache


def _fake_exporter(calls: list, fail: bool = False):
    def run(weights: Path, shape: tuple[int, int]) -> Path:
        calls.append(shape)
        out = weights.with_suffix(".onnx")
        out.write_bytes(b"half an export" if fail else b"an export")
        if fail:
            raise KeyboardInterrupt
        return out

    return run


def test_export_is_cached_by_checkpoint_hash_and_input_size(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    calls: list = []
    monkeypatch.setattr(detect_backends, "_run_exporter", _fake_exporter(calls))
    weights, cache = tmp_path / "w.pt", tmp_path / "cache"
    weights.write_bytes(b"weights one")
    first = export_onnx(weights, (64, 96), cache)
    assert export_onnx(weights, (64, 96), cache) == first and calls == [(64, 96)]
    assert first.name.startswith("w-") and first.name.endswith("-64x96.onnx")
    assert first.read_bytes() == b"an export"
    other_size = export_onnx(weights, (96, 64), cache)
    weights.write_bytes(b"weights two")
    other_weights = export_onnx(weights, (64, 96), cache)
    assert len({first, other_size, other_weights}) == 3 and len(calls) == 3
    assert sorted(cache.iterdir()) == sorted([first, other_size, other_weights])  # no leftovers


def test_interrupted_export_leaves_no_file(tmp_path, monkeypatch):
    pytest.importorskip("onnx")
    calls: list = []
    monkeypatch.setattr(detect_backends, "_run_exporter", _fake_exporter(calls, fail=True))
    weights, cache = tmp_path / "w.pt", tmp_path / "cache"
    weights.write_bytes(b"weights")
    with pytest.raises(KeyboardInterrupt):
        export_onnx(weights, (64, 96), cache)
    assert calls and list(cache.iterdir()) == []  # no export, no temporary file or folder


def test_unwritable_export_folder_is_one_line(tmp_path):
    pytest.importorskip("onnx")
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"weights")
    (tmp_path / "file").write_text("")
    with pytest.raises(McmotError, match="cannot write .*file"):
        export_onnx(weights, (64, 96), tmp_path / "file" / "cache")


# ------------------------------------------------------------------ same boxes as torch


@pytest.fixture(scope="module")
def pets_images(shared_data):
    video = shared_data / "pets09-s2l1" / "vtest.avi"
    if not video.is_file():
        pytest.skip(f"PETS09-S2L1 not found at {video}")
    with open_source(video) as src:
        return [src.read(k) for k in PETS_FRAMES]


@pytest.fixture(scope="module")
def torch_found(pets_images):
    det = PersonDetector(device="cpu", backend="torch")
    return [det.detect([img])[0] for img in pets_images]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("exports")  # one export serves every runtime


@pytest.mark.parametrize(
    ("backend", "precision"), [("onnx", None), ("openvino", None), ("openvino", "f32")]
)
def test_runtime_finds_the_torch_paths_boxes_within_the_stated_tolerance(
    backend, precision, pets_images, torch_found, export_dir
):
    """Real PETS09 frames at the default size: the runtime's boxes pair with torch's."""
    if not backend_installed(backend):
        pytest.skip(f"{backend} is not installed ({install_hint(backend)})")
    det = PersonDetector(device="cpu", backend=backend, export_dir=export_dir, precision=precision)
    found = [det.detect([img])[0] for img in pets_images]
    agree = sum((agreement(a, b) for a, b in zip(torch_found, found, strict=True)), Agreement())
    used = det.describe().split()[-1]  # OpenVINO's default is bf16 on CPUs with bf16
    assert precision is None or used == precision
    assert agree.matched >= 10, agree  # the frames hold people
    assert TOLERANCE[used].holds(agree, DEFAULT_CONF), (used, agree)
    assert all(f.kpts is not None and f.kpts.shape[1:] == (17, 3) for f in found)


def _dets(boxes: list, scores: list) -> FrameDetections:
    return FrameDetections(np.array(boxes, float), np.array(scores, float), None)


def test_agreement_pairs_boxes_and_the_tolerance_rejects_a_stray_box():
    ref = _dets([[0, 0, 10, 20], [50, 0, 10, 20]], [0.9, 0.5])
    a = agreement(ref, _dets([[50, 0, 10, 20.1], [0, 0, 10, 20]], [0.51, 0.9]))
    assert a.matched == 2 and a.min_iou == pytest.approx(20 / 20.1)
    assert a.max_score_diff == pytest.approx(0.01) and a.unmatched_scores == ()
    assert TOLERANCE["bf16"].holds(a, 0.25) and not TOLERANCE["f32"].holds(a, 0.25)
    b = agreement(ref, _dets([[0, 0, 10, 20], [200, 0, 10, 20]], [0.9, 0.8]))
    assert b.matched == 1 and sorted(b.unmatched_scores) == [0.5, 0.8]
    assert not TOLERANCE["bf16"].holds(b, 0.25)  # a confident box on one side only
    near_threshold = agreement(ref, ref) + Agreement(0, 1.0, 0.0, (0.27,))
    assert TOLERANCE["bf16"].holds(near_threshold, 0.25)


# ------------------------------------------------------------------ the command


def _runtime_installed() -> str:
    for backend in ("onnx", "openvino"):
        if backend_installed(backend):
            return backend
    pytest.skip(f"no runtime installed ({install_hint('onnx')})")


def test_export_dir_option_holds_the_export_and_the_summary_names_the_backend(tmp_path):
    backend = _runtime_installed()
    _drawn_scene(tmp_path / "scene", {"a": 1})
    exports = tmp_path / "exports"
    r = _cli("detect", tmp_path / "scene", "--imgsz", SMALL, "--backend", backend,
             "--export-dir", exports)  # fmt: skip
    assert r.exit_code == 0, r.output
    assert f"on cpu, {backend} " in " ".join(r.stdout.split())
    assert [p.suffix for p in exports.iterdir()] == [".onnx"]
    assert not (tmp_path / "scene" / "cache").exists()


def test_runtime_export_and_detect_make_no_network_attempt(tmp_path):
    """A fresh process whose sockets all fail exports into the scene's cache and detects."""
    backend = _runtime_installed()
    _drawn_scene(tmp_path, {"a": 1})
    run_offline("detect", str(tmp_path), "--imgsz", SMALL, "--backend", backend, timeout=180)
    assert len(list((tmp_path / "cache" / "detector").glob("*.onnx"))) == 1
    assert (tmp_path / "det" / "a.txt").read_text().count("\n") == 2


def test_ctrl_c_after_openvino_detectors_are_released_is_an_interrupt_not_a_crash(tmp_path):
    """Two OpenVINO detectors released in creation order, then SIGINT: KeyboardInterrupt."""
    if not backend_installed("openvino"):
        pytest.skip(f"openvino is not installed ({install_hint('openvino')})")
    code = (
        "import gc, os, signal, numpy as np\n"
        # Python turns SIGINT into KeyboardInterrupt only if it was not ignored when the
        # interpreter started, and a shell starts background jobs with it ignored
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from mcmot.detectors import PersonDetector\n"
        "dets = [PersonDetector(device='cpu', imgsz=64, backend='openvino',\n"
        f"        export_dir={str(tmp_path)!r}, precision=p) for p in ('f32', 'bf16')]\n"
        "for d in dets:\n"
        "    d.detect([np.zeros((64, 64, 3), np.uint8)])\n"
        "del d\n"
        "dets.pop(0); gc.collect(); dets.pop(0); gc.collect()\n"
        "try:\n"
        "    os.kill(os.getpid(), signal.SIGINT)\n"
        "    signal.pause()\n"
        "except KeyboardInterrupt:\n"
        "    print('interrupted')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "interrupted", (r.returncode, r.stderr[-2000:])
