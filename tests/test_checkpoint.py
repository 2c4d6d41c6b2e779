"""mcmot.models.checkpoint: the format, its kind, and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.models.checkpoint import (
    CALIBFREE,
    FORMAT,
    build_model,
    config_from_dict,
    load_checkpoint,
    save_checkpoint,
)
from mcmot.models.pretrain_config import PretrainConfig

#: Any valid settings will do: the default architecture, no teacher.
TINY = PretrainConfig(teacher="none", device="cpu")


def _state() -> dict[str, Any]:
    torch.manual_seed(0)
    model = build_model(TINY.model_config())
    return {"config": to_dict(TINY), "model": model.state_dict(), "step": 7}


def _raw(path: Path, state: Any) -> Path:
    """Write ``state`` as it is, bypassing save_checkpoint."""
    torch.save(state, path)
    return path


def _load_error(path: Path) -> str:
    with pytest.raises(McmotError) as info:
        load_checkpoint(path)
    msg = str(info.value)
    assert "\n" not in msg and str(path) in msg
    return msg


def test_a_saved_checkpoint_loads_back_with_its_config_weights_and_kind(tmp_path):
    state = _state()
    save_checkpoint(tmp_path / "c.pt", state)
    back = load_checkpoint(tmp_path / "c.pt")
    assert back["format"] == FORMAT and back["kind"] == CALIBFREE and back["step"] == 7
    assert config_from_dict(back["config"]) == TINY
    assert all(torch.equal(back["model"][k], v) for k, v in state["model"].items())
    model = build_model(TINY.model_config(), back["model"])
    assert set(model.state_dict()) == set(state["model"])


def test_a_checkpoint_without_a_kind_is_a_calibfree_one(tmp_path):
    path = _raw(tmp_path / "old.pt", {"format": FORMAT, **_state()})
    assert load_checkpoint(path)["kind"] == CALIBFREE


def test_an_unknown_kind_is_one_line_naming_the_file_and_the_known_kinds(tmp_path):
    save_checkpoint(tmp_path / "c.pt", _state(), kind="crossinput")
    msg = _load_error(tmp_path / "c.pt")
    assert "'crossinput'" in msg and CALIBFREE in msg


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda s: s.pop("config"), "no 'config'"),
        (lambda s: s.pop("model"), "no 'model'"),
        (lambda s: s.update(config=[1, 2]), "must be a dict"),
        (lambda s: s["config"].update(depth="two"), "depth must be an integer"),
        (lambda s: s["config"].update(amp=1), "amp must be true or false"),
        (lambda s: s["config"].update(lr=float("nan")), "lr must be a finite number"),
        (lambda s: s["config"].update(colour="red"), "unknown pretrain config field(s): colour"),
        (lambda s: s.update(model=[torch.zeros(2)]), "not a dict of named tensors"),
        (lambda s: s["model"].update(extra=3), "not a dict of named tensors"),
        (lambda s: s["model"]["mask_token"].fill_(float("nan")), "mask_token holds NaN"),
        (
            lambda s: s["model"]["mask_token"].fill_(float("inf")),
            "mask_token holds NaN or infinite",
        ),
    ],
)
def test_a_malformed_checkpoint_is_a_one_line_error_naming_the_file(tmp_path, change, says):
    state = {"format": FORMAT, **_state()}
    change(state)
    msg = _load_error(_raw(tmp_path / "bad.pt", state))
    assert says in msg


def test_a_file_of_another_format_is_not_a_checkpoint(tmp_path):
    msg = _load_error(_raw(tmp_path / "x.pt", {"format": "other", **_state()}))
    assert "not a mcmot pretrain checkpoint" in msg


def test_a_malformed_checkpoint_given_to_a_command_exits_1_without_a_traceback(tmp_path):
    scene = make_tiny_scene(tmp_path / "scene")
    state = _state()
    state["config"]["depth"] = "two"
    bad = _raw(tmp_path / "bad.pt", {"format": FORMAT, **state})
    r = CliRunner().invoke(app, ["extract-features", str(scene), "--model", str(bad)])
    assert r.exit_code == 1
    assert "depth must be an integer" in r.output and "Traceback" not in r.output
    assert r.exception is None or isinstance(r.exception, SystemExit)
