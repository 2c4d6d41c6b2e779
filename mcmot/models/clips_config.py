"""Settings of SSAT's clip-classification training (``mcmot pretrain --objective clips``).

A checkpoint of kind ``ssat`` (mcmot.models.checkpoint) records its
:class:`ClipsConfig`; mcmot.stages.pretrain_clips trains with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcmot.config import check_ranges, check_types, config_from_saved
from mcmot.training.settings import trainer_ranges

if TYPE_CHECKING:
    from mcmot.models.reid import ReidConfig

#: Backbones (torchvision, built without weights) and the width of their pooled output.
ARCHS = {"resnet18": 512, "resnet34": 512, "resnet50": 2048, "mobilenet_v2": 1280}
#: What one class is made of: clips of whole frames (the paper) or tracklets of one person.
INPUTS = ("frames", "tracklets")


@dataclass(frozen=True)
class ClipsConfig:
    """SSAT training settings: data, network, loss and optimisation.

    Attributes
    ----------
    inputs : "frames" (the paper: one class per clip of whole frames, each
        resized so its shorter side is ``load_scale`` times the input and
        randomly cropped to it) or "tracklets" (a marked variant: one class per
        piece of a track of a scene's ``tracks/``, its person crops resized to
        ``load_scale`` times the input and randomly cropped to it)
    clip_seconds : a video (or a track) is cut into classes this long; videos
        are also cut at shot cuts
    cut_threshold : a shot cut is a Bhattacharyya distance between consecutive
        frames' colour histograms above this
    frames_per_clip : images kept per class, evenly spaced in time
    min_frames : classes with fewer images are dropped
    input_height, input_width : the network's input size
    load_scale : images are stored this much larger than the input, for the random crop
    arch, dim : the network (mcmot.models.reid)
    s, m : CosFace's scale and margin
    init : None (from scratch) or a backbone state dict file (torchvision key names)
    min_score, min_box_px : with "tracklets": track rows scoring lower, or boxes
        smaller after clipping, are not used
    seed, epochs, minutes, batch_size, lr, min_lr, warmup_epochs, weight_decay,
    beta1, beta2, clip_grad, amp, save_every, plan_steps : the trainer's
        (mcmot.training.objective.TrainSettings)
    device : "auto" (CUDA when present), "cpu" or "cuda"
    """

    inputs: str = "frames"
    clip_seconds: float = 10.0
    cut_threshold: float = 0.5
    frames_per_clip: int = 30
    min_frames: int = 4
    input_height: int = 112
    input_width: int = 112
    load_scale: float = 256 / 224
    arch: str = "resnet18"
    dim: int = 512
    s: float = 64.0
    m: float = 0.35
    init: str | None = None
    min_score: float = 0.0
    min_box_px: int = 8
    seed: int = 0
    epochs: int = 16
    minutes: float | None = None
    batch_size: int = 32
    lr: float = 1.0e-3
    min_lr: float = 1.0e-6
    warmup_epochs: float = 1.0
    weight_decay: float = 5.0e-4
    beta1: float = 0.9
    beta2: float = 0.999
    clip_grad: float = 5.0
    amp: bool = True
    save_every: int = 0
    plan_steps: int = 3
    device: str = "auto"

    def reid_config(self, num_classes: int = 0) -> ReidConfig:
        """The network's shape (with a head of ``num_classes`` when training)."""
        from mcmot.models.reid import ReidConfig

        return ReidConfig(arch=self.arch, dim=self.dim, num_classes=num_classes)

    @property
    def input_size(self) -> tuple[int, int]:
        return self.input_height, self.input_width

    @property
    def load_size(self) -> tuple[int, int]:
        """(height, width) of a stored tracklet crop."""
        return (
            round(self.input_height * self.load_scale),
            round(self.input_width * self.load_scale),
        )


def check_clips_config(cfg: ClipsConfig) -> None:
    """A one-line error for a setting of the wrong type or out of range."""
    check_types(cfg)
    ranges = [
        ("inputs", cfg.inputs in INPUTS, " or ".join(INPUTS)),
        ("arch", cfg.arch in ARCHS, ", ".join(ARCHS)),
        ("clip_seconds", cfg.clip_seconds > 0, "above 0"),
        ("cut_threshold", 0 < cfg.cut_threshold <= 1, "above 0, at most 1"),
        ("frames_per_clip", cfg.frames_per_clip >= 1, "at least 1"),
        ("min_frames", cfg.min_frames >= 1, "at least 1"),
        ("input_height", 16 <= cfg.input_height <= 1024, "16 to 1024"),
        ("input_width", 16 <= cfg.input_width <= 1024, "16 to 1024"),
        ("load_scale", 1 <= cfg.load_scale <= 2, "1 to 2"),
        ("dim", cfg.dim >= 1, "at least 1"),
        ("s", cfg.s > 0, "above 0"),
        ("m", 0 <= cfg.m < 1, "0 to 1 (below 1)"),
        ("min_score", 0 <= cfg.min_score <= 1, "0 to 1"),
        ("min_box_px", cfg.min_box_px >= 1, "at least 1"),
        ("batch_size", cfg.batch_size >= 2, "at least 2"),
    ]
    check_ranges(cfg, ranges + trainer_ranges(cfg))


def clips_config_from_dict(data: Any) -> ClipsConfig:
    """A checked ClipsConfig from a saved dict (unknown keys, wrong types and values out of
    range are an error)."""
    cfg = config_from_saved(ClipsConfig, data, "clips")
    check_clips_config(cfg)
    return cfg
