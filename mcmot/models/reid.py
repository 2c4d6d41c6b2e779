"""SSAT's re-identification network: a CNN embedding trained with a large-margin cosine loss.

The backbone is a torchvision CNN built without weights (``resnet18``,
``resnet34``, ``resnet50`` or ``mobilenet_v2``); its pooled output goes
through a linear embedding to ``dim`` channels when the widths differ
(ResNet-18 and -34 give 512 natively). Training classifies each image into
its clip with CosFace's large-margin cosine loss (LMCL): features and class
weights are L2-normalised, the target class's cosine is lowered by the margin
``m`` and every cosine is scaled by ``s``. At inference only the embedding is
used, L2-normalised.

Weights never come from a download: ``load_init`` reads a state dict the user
gives (torchvision key names) into the backbone.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from mcmot.errors import McmotError
from mcmot.models.clips_config import ARCHS
from mcmot.models.tokens import normalize_crops


@dataclass(frozen=True)
class ReidConfig:
    """The network's shape.

    Attributes
    ----------
    arch : the backbone, one of :data:`ARCHS`
    dim : embedding width (512 as in the paper)
    num_classes : classes of the training head (clips); 0 = no head (inference only)
    """

    arch: str = "resnet18"
    dim: int = 512
    num_classes: int = 0

    def validate(self) -> None:
        """A ValueError for an unknown backbone or a non-positive width."""
        if self.arch not in ARCHS:
            raise ValueError(f"arch must be one of {', '.join(ARCHS)}, got {self.arch!r}")
        if self.dim < 1 or self.num_classes < 0:
            raise ValueError("dim must be at least 1 and num_classes 0 or more")


def _backbone(arch: str) -> nn.Module:
    """The torchvision CNN without weights and without its classifier: (B, 3, H, W) -> (B, C)."""
    import torchvision

    net = getattr(torchvision.models, arch)(weights=None)
    if arch == "mobilenet_v2":
        net.classifier = nn.Identity()
    else:
        net.fc = nn.Identity()
    return net


def cosface_logits(
    features: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor | None, s: float, m: float
) -> torch.Tensor:
    """CosFace's logits ``s * (cos(theta_j) - m * [j = y])``.

    Parameters
    ----------
    features : (B, D) embeddings (normalised here)
    weight : (K, D) class weights (normalised here)
    labels : (B,) target classes, or None (no margin: plain scaled cosines)
    s, m : scale and additive cosine margin

    Returns
    -------
    (B, K) logits; with ``m = 0`` a softmax over them is a scaled-cosine softmax.
    """
    cos = F.normalize(features, dim=1) @ F.normalize(weight, dim=1).T
    if labels is not None and m != 0:
        cos = cos - m * F.one_hot(labels, cos.shape[1]).to(cos.dtype)
    return s * cos


class CosFaceHead(nn.Module):
    """The clip classifier: one weight vector per class."""

    def __init__(self, num_classes: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_classes, dim))
        nn.init.normal_(self.weight, std=0.01)


class ReidNet(nn.Module):
    """Backbone, embedding and (when training) the CosFace head.

    ``forward`` takes uint8 BGR images (B, H, W, 3) and returns (B, dim) embeddings
    (or, given labels, the training loss).
    """

    def __init__(self, cfg: ReidConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        self.backbone = _backbone(cfg.arch)
        width = ARCHS[cfg.arch]
        self.embed: nn.Module = nn.Linear(width, cfg.dim) if width != cfg.dim else nn.Identity()
        self.head = CosFaceHead(cfg.num_classes, cfg.dim) if cfg.num_classes else None

    def forward(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | None = None,
        s: float = 64.0,
        m: float = 0.35,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Embeddings, or with ``labels`` the training loss (one forward, so DDP syncs the head).

        Parameters
        ----------
        images : (B, H, W, 3) uint8 BGR
        labels : (B,) clip indices, or None
        s, m : CosFace's scale and margin

        Returns
        -------
        (B, dim) embeddings; with ``labels``, the 0-d LMCL over the batch and the
        share of images whose top class is their clip.
        """
        emb = self.embed(self.backbone(normalize_crops(images)))
        if labels is None:
            return emb
        if self.head is None:
            raise ValueError("this network has no training head")
        logits = cosface_logits(emb.float(), self.head.weight.float(), labels, s, m)
        acc = (logits.argmax(dim=1) == labels).float().mean()
        return F.cross_entropy(logits, labels), acc

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) uint8 BGR -> (B, dim) L2-normalised embeddings."""
        return F.normalize(self(images).float(), dim=1)  # type: ignore[union-attr]


def load_init(net: ReidNet, path: Path) -> None:
    """Load a backbone state dict (torchvision key names) from ``path``, or a one-line error.

    The file's classifier weights (``fc.*``, ``classifier.*``) are ignored;
    every backbone weight must be present with its shape.
    """
    if not Path(path).is_file():
        raise McmotError(f"--init: file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is bad input
        raise McmotError(f"--init: cannot read {path}: {str(exc).splitlines()[0]}") from None
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise McmotError(f"--init: {path} is not a state dict of tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    state = {k: v for k, v in state.items() if not k.startswith(("fc.", "classifier."))}
    try:
        net.backbone.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
        detail = lines[1] if len(lines) > 1 else lines[0]
        raise McmotError(
            f"--init: {path} does not fit a torchvision {net.cfg.arch}: {detail[:200]}"
        ) from None
