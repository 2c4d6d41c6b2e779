"""extract-features on ONNX Runtime and OpenVINO gives the torch path's features."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import CALIBFREE, SSAT, build_model, build_reid, save_checkpoint
from mcmot.models.clips_config import ClipsConfig
from mcmot.models.pretrain_config import PretrainConfig
from mcmot.runtimes import runtime_installed
from mcmot.stages import features as features_stage
from mcmot.stages.features import (
    FeaturesConfig,
    resolve_precision,
    resolve_runtime,
    run_extract_features,
)

RUNTIMES = [
    pytest.param(r, marks=pytest.mark.skipif(not runtime_installed(r), reason=f"{r} missing"))
    for r in ("onnx", "openvino")
]
TINY = PretrainConfig(
    img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=1, num_heads=2, dec_dim=16,
    dec_depth=1, dec_heads=2, max_dets=2, teacher="none", device="cpu",
)  # fmt: skip
TINY_SSAT = ClipsConfig(input_height=32, input_width=32, device="cpu")
CPU = torch.device("cpu")


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def scene(tmp_path_factory):
    """Three people in each frame: groups of 2 and 1 detections (max_dets = 2)."""
    return make_tiny_scene(tmp_path_factory.mktemp("rt") / "scene", frames=4, persons=3)


@pytest.fixture(scope="module")
def calibfree(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("cf") / "checkpoint.pt"
    model = build_model(TINY.model_config(), None)
    save_checkpoint(path, {"config": to_dict(TINY), "model": model.state_dict()})
    return path


@pytest.fixture(scope="module")
def ssat(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("ssat") / "checkpoint.pt"
    net = build_reid(TINY_SSAT, 0, None)
    save_checkpoint(path, {"config": to_dict(TINY_SSAT), "model": net.state_dict()}, SSAT)
    return path


def _features(scene, **cfg) -> dict[str, np.ndarray]:
    run_extract_features(scene, FeaturesConfig(device="cpu", **cfg), overwrite=True)
    out = {}
    for cam in ("cam1", "cam2"):
        with np.load(scene / "features" / f"{cam}.npz") as z:
            out[cam] = np.concatenate([z["f_a"], z["f_s"]], axis=1)
    return out


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("pooling", ["max", "mean"])
def test_calibfree_in_float32_on_a_runtime_gives_the_torch_features(
    scene, calibfree, runtime, pooling
):
    want = _features(scene, model=str(calibfree), pooling=pooling, runtime="torch", precision="f32")
    got = _features(scene, model=str(calibfree), pooling=pooling, runtime=runtime, precision="f32")
    for cam in want:
        np.testing.assert_allclose(got[cam], want[cam], atol=1e-5)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ssat_in_float32_on_a_runtime_gives_the_torch_features(scene, ssat, runtime):
    want = _features(scene, model=str(ssat), runtime="torch", precision="f32")
    got = _features(scene, model=str(ssat), runtime=runtime, precision="f32")
    for cam in want:
        np.testing.assert_allclose(got[cam], want[cam], atol=1e-5)


@pytest.mark.skipif(not runtime_installed("openvino"), reason="openvino missing")
def test_openvino_bfloat16_features_follow_the_float32_ones(scene, calibfree):
    want = _features(scene, model=str(calibfree), runtime="torch", precision="f32")
    got = _features(scene, model=str(calibfree), runtime="openvino", precision="bf16")
    for cam in want:
        cos = (got[cam] * want[cam]).sum(1) / 2  # two unit halves per row
        assert cos.min() > 0.99


def test_auto_runs_calibfree_on_torch_and_ssat_on_the_fastest_installed_runtime(monkeypatch):
    monkeypatch.setattr(features_stage, "backend_installed", lambda name: name != "openvino")
    assert resolve_runtime("auto", CPU, CALIBFREE) == "torch"
    assert resolve_runtime("auto", CPU, SSAT) == "onnx"
    monkeypatch.setattr(features_stage, "backend_installed", lambda name: name == "torch")
    assert resolve_runtime("auto", CPU, SSAT) == "torch"
    assert resolve_runtime("torch", CPU, SSAT) == "torch"


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bfloat16_on_torch_only_where_the_cpu_has_it(monkeypatch, native):
    monkeypatch.setattr(features_stage, "cpu_has_bf16", lambda: native)
    assert resolve_precision("auto", "torch", CPU) == ("bf16" if native else "f32")
    assert resolve_precision("auto", "torch", torch.device("cuda")) == "f32"
    assert resolve_precision("auto", "onnx", CPU) == "f32"
    assert resolve_precision("auto", "openvino", CPU) is None  # OpenVINO's own default
    assert resolve_precision("f32", "torch", CPU) == "f32"


def test_a_gpu_runs_torch_and_refuses_a_cpu_runtime():
    gpu = torch.device("cuda")
    assert resolve_runtime("auto", gpu) == "torch"
    with pytest.raises(McmotError, match="runs on the CPU"):
        resolve_runtime("openvino", gpu)


def test_a_runtime_that_is_not_installed_names_its_extra(monkeypatch):
    monkeypatch.setattr(features_stage, "backend_installed", lambda name: False)
    with pytest.raises(McmotError, match=r"pip install 'mcmot\[onnx\]'"):
        resolve_runtime("onnx", CPU)


@pytest.mark.skipif(not runtime_installed("onnx"), reason="onnx missing")
def test_bfloat16_on_onnx_runtime_is_a_one_line_error(scene, calibfree):
    cfg = FeaturesConfig(model=str(calibfree), runtime="onnx", precision="bf16")
    with pytest.raises(McmotError, match="ONNX Runtime has none"):
        run_extract_features(scene, cfg, overwrite=True)


def test_an_unknown_runtime_is_a_one_line_error(scene, calibfree):
    with pytest.raises(McmotError, match="--runtime must be"):
        run_extract_features(scene, FeaturesConfig(model=str(calibfree), runtime="tpu"))


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_the_command_says_what_ran_the_encoder(scene, calibfree, runtime):
    args = ["extract-features", str(scene), "--model", str(calibfree), "--device", "cpu"]
    res = CliRunner().invoke(
        app, [*args, "--runtime", runtime, "--precision", "f32", "--overwrite"]
    )
    assert res.exit_code == 0, res.output
    assert f"{runtime} f32" in res.output
