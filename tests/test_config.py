"""mcmot.config: KEY=VALUE settings for the frozen stage configs."""

from __future__ import annotations

import pytest

from mcmot.config import apply_settings, parse_setting
from mcmot.errors import McmotError
from mcmot.tracking import TrackerConfig


def test_parse_setting_types():
    assert parse_setting("n_init=2") == ("n_init", 2)
    assert parse_setting("motion_weight=0.5") == ("motion_weight", 0.5)
    assert parse_setting("emit_tentative=true") == ("emit_tentative", True)
    assert parse_setting("cosine_gate_quantile=none") == ("cosine_gate_quantile", None)
    assert parse_setting("motion_cost=iou") == ("motion_cost", "iou")
    for bad in ("n_init", "=3"):
        with pytest.raises(McmotError, match="KEY=VALUE"):
            parse_setting(bad)


def test_apply_settings_sets_none_and_checks_names():
    cfg = apply_settings(TrackerConfig(), ["cosine_gate_quantile=none", "n_init_seconds=0.2"])
    assert cfg.cosine_gate_quantile is None and cfg.n_init_seconds == 0.2
    assert apply_settings(TrackerConfig(), []) == TrackerConfig()
    with pytest.raises(McmotError, match="unknown TrackerConfig field"):
        apply_settings(TrackerConfig(), ["n_inti=2"])
    with pytest.raises(McmotError, match="motion_weight must be in"):
        apply_settings(TrackerConfig(), ["motion_weight=2"])
