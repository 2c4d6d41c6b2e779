"""The checkpoint format shared by every training objective.

A checkpoint is a ``torch.save`` dict of tensors and plain values:

- ``format``: :data:`FORMAT`;
- ``kind``: the training objective that wrote it, one of :data:`KINDS`
  (absent in the first checkpoints, which are ``"calibfree"``);
- ``config``: the objective's settings as a dict (:func:`mcmot.config.to_dict`): a
  :class:`PretrainConfig` for ``calibfree``, a :class:`ClipsConfig` for ``ssat``, a
  :class:`CrossInputConfig` for ``cross-input``;
- ``model``: the model's ``state_dict``;
- a training run's resume state (``optimizer``, ``schedule``, ``step``,
  ``finished``, ``teacher``), which a model-only checkpoint leaves out.

:func:`load_checkpoint` reads one and checks all of the above except the
resume state, so a bad file is a one-line :class:`McmotError` naming it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from mcmot.atomic import atomic_path
from mcmot.config import config_from_saved
from mcmot.errors import McmotError
from mcmot.models.calibfree import CalibFree
from mcmot.models.calibfree_config import CalibFreeConfig
from mcmot.models.clips_config import ClipsConfig, clips_config_from_dict
from mcmot.models.cross_input import CrossInputNet
from mcmot.models.cross_input_config import CrossInputConfig, cross_input_config_from_dict
from mcmot.models.pretrain_config import PretrainConfig
from mcmot.models.reid import ReidNet, load_init

FORMAT = "mcmot-calibfree-v1"
#: The kind of the checkpoints written by ``mcmot pretrain`` (and of those without a kind).
CALIBFREE = "calibfree"
#: The kind written by ``mcmot pretrain --objective clips`` (SSAT's re-ID network).
SSAT = "ssat"
#: The kind written by ``mcmot pretrain --objective cross-input`` (the learned tracker).
CROSS_INPUT = "cross-input"
#: The kinds a checkpoint may have.
KINDS = (CALIBFREE, SSAT, CROSS_INPUT)
#: What each kind is, for messages.
KIND_NAMES = {
    CALIBFREE: "a CalibFree checkpoint (mcmot pretrain)",
    SSAT: "an SSAT re-ID checkpoint (mcmot pretrain --objective clips)",
    CROSS_INPUT: "a learned-tracker checkpoint (mcmot pretrain --objective cross-input)",
}

#: Values of the model options added after the first checkpoints: a saved config
#: without one of them predates it, and was trained and must be rebuilt without it.
ABSENT_MEANS_OFF: dict[str, Any] = {
    "cross_other_views": False,
    "cross_strict": False,
    "cross_match": "attention",
    "mask_per_view": False,
    "recon_own_drop": 0.0,
    "slot_half": "f_a",
}


def save_checkpoint(path: Path, state: dict[str, Any], kind: str = CALIBFREE) -> None:
    """Write ``state`` as a checkpoint of ``kind`` atomically (``format`` and ``kind`` added)."""
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save({**state, "format": FORMAT, "kind": kind}, tmp)


def load_checkpoint(path: Path, kind: str | None = None) -> dict[str, Any]:
    """Read and check a mcmot checkpoint (see the module docstring), or a one-line error.

    With ``kind``, a checkpoint of another kind is an error naming both.

    Returns
    -------
    The saved dict, with ``kind`` filled in for checkpoints written without one.
    """
    if not Path(path).is_file():
        raise McmotError(f"checkpoint not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is bad input
        raise McmotError(f"cannot read checkpoint {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise McmotError(f"{path} is not a mcmot pretrain checkpoint")
    state = {**state, "kind": state.get("kind", CALIBFREE)}
    if state["kind"] not in KINDS:
        raise McmotError(
            f"{path}: unknown checkpoint kind {state['kind']!r}; known kinds: {', '.join(KINDS)}"
        )
    if kind is not None and state["kind"] != kind:
        raise McmotError(f"{path} is {KIND_NAMES[state['kind']]}; expected {KIND_NAMES[kind]}")
    for key in ("config", "model"):
        if key not in state:
            raise McmotError(f"{path}: the checkpoint has no {key!r}")
    try:
        settings_from_dict(state["kind"], state["config"])
    except McmotError as exc:
        raise McmotError(f"{path}: {exc}") from None
    _check_weights(path, state["model"])
    return state


def _check_weights(path: Path, weights: Any) -> None:
    """A one-line error unless ``weights`` is a dict of finite tensors."""
    if not isinstance(weights, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in weights.items()
    ):
        raise McmotError(f"{path}: the checkpoint's 'model' is not a dict of named tensors")
    for name, t in weights.items():
        if t.is_floating_point() and not bool(torch.isfinite(t).all()):
            raise McmotError(f"{path}: weight {name} holds NaN or infinite values")


def settings_from_dict(kind: str, data: Any) -> Any:
    """The checked settings of a checkpoint of ``kind`` from its saved dict."""
    if kind == SSAT:
        return clips_config_from_dict(data)
    if kind == CROSS_INPUT:
        return cross_input_config_from_dict(data)
    return config_from_dict(data)


def config_from_dict(data: dict[str, Any]) -> PretrainConfig:
    """A PretrainConfig from a saved dict (unknown keys and wrong types are an error).

    Options missing from ``data`` (older checkpoints) are off (``ABSENT_MEANS_OFF``);
    other missing fields take today's defaults.
    """
    return config_from_saved(PretrainConfig, data, "pretrain", ABSENT_MEANS_OFF)


def build_model(cfg: CalibFreeConfig, state: dict[str, torch.Tensor] | None = None) -> CalibFree:
    """A CalibFree model, optionally loaded; a shape mismatch is a one-line error."""
    try:
        model = CalibFree(cfg)
    except ValueError as exc:
        raise McmotError(f"bad model configuration: {exc}") from None
    if state is not None:
        _load_weights(model, state)
    return model


def _load_weights(model: torch.nn.Module, weights: dict[str, torch.Tensor]) -> None:
    """``model.load_state_dict(weights)``; a mismatch is a one-line error."""
    try:
        model.load_state_dict(weights)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise McmotError(f"checkpoint weights do not match its config: {detail}") from None


def build_reid(
    cfg: ClipsConfig, num_classes: int, weights: dict[str, torch.Tensor] | None
) -> ReidNet:
    """The network with a head of ``num_classes``, from ``weights`` or new (``cfg.init``)."""
    try:
        net = ReidNet(cfg.reid_config(num_classes))
    except ValueError as exc:
        raise McmotError(f"bad network configuration: {exc}") from None
    if weights is not None:
        _load_weights(net, weights)
    elif cfg.init:
        load_init(net, cfg.init)  # type: ignore[arg-type]
    return net


def build_cross_input(
    cfg: CrossInputConfig, weights: dict[str, torch.Tensor] | None = None
) -> CrossInputNet:
    """The learned tracker's matchers, from ``weights`` or newly initialised."""
    net = CrossInputNet(cfg)
    if weights is not None:
        _load_weights(net, weights)
    return net
