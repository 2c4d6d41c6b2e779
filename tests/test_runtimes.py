"""The CPU inference runtimes (ONNX Runtime, OpenVINO) and the teacher on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mcmot.errors import McmotError
from mcmot.models import teacher as teacher_mod
from mcmot.models.teacher import load_teacher
from mcmot.runtimes import RUNTIMES, fastest_runtime, open_session, runtime_installed

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

SIZE = 28  # the toy teacher's square input: 2 x 2 tokens of 14 px


def token_model(path: Path) -> Path:
    """A toy ONNX 'ViT': (N, 3, 28, 28) -> (N, 4, 3) tokens, the mean colour of each
    14 px patch (no prefix token), plus a second output that is not the tokens."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, SIZE, SIZE])
    tokens = helper.make_tensor_value_info("tokens", TensorProto.FLOAT, [None, 4, 3])
    other = helper.make_tensor_value_info("other", TensorProto.FLOAT, [None, 3, 2, 2])
    shape = helper.make_tensor("shape", TensorProto.INT64, [3], [0, 3, 4])
    nodes = [
        helper.make_node("AveragePool", ["x"], ["other"], kernel_shape=[14, 14], strides=[14, 14]),
        helper.make_node("Reshape", ["other", "shape"], ["flat"]),
        helper.make_node("Transpose", ["flat"], ["tokens"], perm=[0, 2, 1]),
    ]
    graph = helper.make_graph(nodes, "toy", [x], [tokens, other], initializer=[shape])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.save(model, str(path))
    return path


INSTALLED = [r for r in RUNTIMES if runtime_installed(r)]


@pytest.mark.parametrize("runtime", INSTALLED)
def test_a_session_from_a_file_or_bytes_returns_the_output_asked_for(tmp_path, runtime):
    path = token_model(tmp_path / "toy.onnx")
    x = np.random.default_rng(0).random((2, 3, SIZE, SIZE), dtype=np.float32)
    want = x.reshape(2, 3, 2, 14, 2, 14).mean(axis=(3, 5)).reshape(2, 3, 4).transpose(0, 2, 1)
    by_file = open_session(
        path, runtime, threads=1, precision="f32" if runtime == "openvino" else None
    )
    by_bytes = open_session(path.read_bytes(), runtime, threads=1, output="tokens")
    assert np.allclose(by_file.run(x), want, atol=1e-2)  # the first output
    assert np.allclose(by_bytes.run(x), want, atol=1e-2)
    assert open_session(path.read_bytes(), runtime, output="other").run(x).shape == (2, 3, 2, 2)
    assert by_file.precision == "f32"


def test_a_bad_runtime_or_network_is_a_one_line_error(tmp_path, monkeypatch):
    with pytest.raises(McmotError, match="bad runtime 'tensorrt'"):
        open_session(tmp_path / "x.onnx", "tensorrt")
    if INSTALLED:
        (tmp_path / "bad.onnx").write_bytes(b"not a network")
        with pytest.raises(McmotError, match=f"{INSTALLED[0]} cannot load .*bad.onnx") as err:
            open_session(tmp_path / "bad.onnx", INSTALLED[0])
        assert "\n" not in str(err.value)
    monkeypatch.setattr("mcmot.runtimes.runtime_installed", lambda name: False)
    with pytest.raises(
        McmotError, match=r"openvino is not installed: pip install 'mcmot\[openvino\]'"
    ):
        open_session(tmp_path / "x.onnx", "openvino")
    assert fastest_runtime() is None


def test_auto_takes_openvino_when_installed_else_onnx_runtime(monkeypatch):
    monkeypatch.setattr("mcmot.runtimes.runtime_installed", lambda name: True)
    assert teacher_mod.resolve_runtime("auto") == "openvino"
    monkeypatch.setattr("mcmot.runtimes.runtime_installed", lambda name: name == "onnx")
    assert teacher_mod.resolve_runtime("auto") == "onnx"
    assert teacher_mod.resolve_runtime("openvino") == "openvino"
    with pytest.raises(McmotError, match="bad teacher runtime"):
        teacher_mod.resolve_runtime("gpu")


@pytest.mark.skipif(len(INSTALLED) < 2, reason="needs ONNX Runtime and OpenVINO")
def test_an_onnx_teacher_gives_the_same_targets_on_both_runtimes_and_names_the_one_it_ran(
    tmp_path,
):
    path = token_model(tmp_path / "toy.onnx")
    crops = np.random.default_rng(1).integers(0, 255, (5, 16, 8, 3), dtype=np.uint8)
    got = {}
    for runtime in ("onnx", "openvino"):
        teacher, note = load_teacher(str(path), runtime=runtime, precision="f32")
        assert note is None and teacher.name == f"{path} ({runtime} f32)"
        assert (teacher.dim, teacher.size, teacher.grid, teacher.prefix) == (3, SIZE, 2, 0)
        got[runtime] = teacher.patch_features(crops, (2, 1))
    assert np.allclose(got["onnx"], got["openvino"], atol=1e-4)
