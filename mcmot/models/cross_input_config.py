"""Settings of cross-input consistency training (``mcmot pretrain --objective cross-input``).

A checkpoint of kind ``cross-input`` (mcmot.models.checkpoint) records its
:class:`CrossInputConfig`; mcmot.stages.pretrain_cross_input trains with one
and ``mcmot track --tracker learned`` rebuilds the network from it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcmot.config import check_ranges, check_types, config_from_saved
from mcmot.training.settings import trainer_ranges


@dataclass(frozen=True)
class CrossInputConfig:
    """Cross-input consistency settings: data, network, sequences and optimisation.

    Attributes
    ----------
    crop : side of the square crop each detection is resized to (64)
    channels : width of the crop CNN (6 convolutions, stride 2) and of its output (64)
    hidden : the spatial matcher's LSTM state (64)
    pair_features : each matcher also sees how a pair differs (crop features'
        absolute difference and product; a box's offset from the track's last
        box); False = the paper's plain concatenation
    n_min, n_max : a training sequence spans ``n`` sampled frames after its first,
        ``n`` drawn uniformly in [n_min, n_max] (the paper: 4 to 16)
    skips : frame strides a sequence is sampled at, drawn uniformly per sequence
    min_dets : the first and last frames of a sequence hold at least this many detections
    flood_frames : the spatial mask C links a detection to those of the previous
        ``flood_frames`` frames whose boxes meet it (the paper: 10)
    flood_pad, flood_iou : boxes are padded by this many pixels and meet at this IoU
    distractors : add one artificial detection per real one of the last frame (its
        box with a crop from a distant frame), so boxes alone cannot win
    min_score, min_box_px : detections scoring lower (0.3, the tracker's
        ``min_confidence``), or smaller after clipping, are not used
    seed, epochs, minutes, batch_size, lr, min_lr, warmup_epochs, weight_decay,
    beta1, beta2, clip_grad, amp, save_every, plan_steps : the trainer's
        (mcmot.training.objective.TrainSettings); a sample is one sequence's first
        frame, an epoch every usable first frame once
    device : "auto" (CUDA when present), "cpu" or "cuda"
    """

    crop: int = 64
    channels: int = 64
    hidden: int = 64
    pair_features: bool = True
    n_min: int = 4
    n_max: int = 16
    skips: tuple[int, ...] = (1, 2)
    min_dets: int = 2
    flood_frames: int = 10
    flood_pad: float = 10.0
    flood_iou: float = 0.1
    distractors: bool = True
    min_score: float = 0.3
    min_box_px: int = 4
    seed: int = 0
    epochs: int = 20
    minutes: float | None = None
    batch_size: int = 4
    lr: float = 1.0e-3
    min_lr: float = 1.0e-5
    warmup_epochs: float = 0.5
    weight_decay: float = 0.0
    beta1: float = 0.9
    beta2: float = 0.999
    clip_grad: float = 5.0
    amp: bool = False
    save_every: int = 0
    plan_steps: int = 5
    device: str = "auto"


def check_cross_input_config(cfg: CrossInputConfig) -> None:
    """A one-line error for a setting of the wrong type or out of range."""
    check_types(cfg)
    ranges = [
        ("crop", 16 <= cfg.crop <= 256, "16 to 256"),
        ("channels", cfg.channels >= 1, "at least 1"),
        ("hidden", cfg.hidden >= 1, "at least 1"),
        ("n_min", cfg.n_min >= 1, "at least 1"),
        ("n_max", cfg.n_max >= cfg.n_min, "at least n_min"),
        ("skips", _strides(cfg.skips), "one or more whole numbers >= 1 (e.g. 1,2)"),
        ("min_dets", cfg.min_dets >= 1, "at least 1"),
        ("flood_frames", cfg.flood_frames >= 1, "at least 1"),
        ("flood_pad", cfg.flood_pad >= 0, "0 or more"),
        ("flood_iou", 0 < cfg.flood_iou <= 1, "above 0, at most 1"),
        ("min_score", 0 <= cfg.min_score <= 1, "0 to 1"),
        ("min_box_px", cfg.min_box_px >= 1, "at least 1"),
        ("batch_size", cfg.batch_size >= 1, "at least 1"),
    ]
    check_ranges(cfg, ranges + trainer_ranges(cfg))


def _strides(value: Any) -> bool:
    return (
        isinstance(value, tuple)
        and len(value) > 0
        and all(isinstance(s, int) and not isinstance(s, bool) and s >= 1 for s in value)
    )


def cross_input_config_from_dict(data: Any) -> CrossInputConfig:
    """A checked CrossInputConfig from a saved dict (unknown keys, wrong types and values
    out of range are an error)."""
    cfg = config_from_saved(CrossInputConfig, data, "cross-input")
    check_cross_input_config(cfg)
    return cfg
