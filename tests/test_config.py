"""mcmot.config: KEY=VALUE settings for the frozen stage configs."""

from __future__ import annotations

import pytest

from mcmot.config import apply_settings, parse_settings
from mcmot.errors import McmotError
from mcmot.tracking import TrackerConfig


def test_settings_are_read_as_their_fields_types():
    got = parse_settings(
        TrackerConfig(),
        ["nn_budget=2", "motion_weight=0.5", "emit_tentative=true",
         "cosine_gate_quantile=none", "motion_cost=iou", "max_age_seconds=3"],
    )  # fmt: skip
    assert got == {
        "nn_budget": 2, "motion_weight": 0.5, "emit_tentative": True,
        "cosine_gate_quantile": None, "motion_cost": "iou", "max_age_seconds": 3.0,
    }  # fmt: skip
    assert isinstance(got["max_age_seconds"], float)
    for bad in ("nn_budget", "=3"):
        with pytest.raises(McmotError, match="KEY=VALUE"):
            parse_settings(TrackerConfig(), [bad])
    with pytest.raises(McmotError, match="nn_budget must be an integer, got '2.5'"):
        parse_settings(TrackerConfig(), ["nn_budget=2.5"])


def test_apply_settings_sets_none_and_checks_names():
    cfg = apply_settings(TrackerConfig(), ["cosine_gate_quantile=none", "n_init_seconds=0.2"])
    assert cfg.cosine_gate_quantile is None and cfg.n_init_seconds == 0.2
    assert apply_settings(TrackerConfig(), []) == TrackerConfig()
    with pytest.raises(McmotError, match="unknown TrackerConfig field"):
        apply_settings(TrackerConfig(), ["n_inti=2"])
    with pytest.raises(McmotError, match="motion_weight must be in"):
        apply_settings(TrackerConfig(), ["motion_weight=2"])
