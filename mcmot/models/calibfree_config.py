"""The CalibFree architecture's settings (:class:`CalibFreeConfig`), checked by ``validate``."""

from __future__ import annotations

from dataclasses import dataclass

from mcmot.models.nmi import NUM_ANCHORS, TEMPERATURE


@dataclass(frozen=True)
class CalibFreeConfig:
    """Architecture of the CalibFree model (defaults: the small `cpu` preset).

    Attributes
    ----------
    img_height, img_width : crop size (H, W) in pixels; multiples of ``patch_size``
    patch_size : square patch side p
    embed_dim : single-view encoder width E (f_a and f_s get E/2 each)
    depth : single-view encoder blocks
    num_heads : single-view encoder heads
    mlp_ratio : MLP hidden width / width, all transformers
    dec_dim : width Ed of the distillation decoder, cross-view encoder and
        reconstruction decoder
    dec_depth : blocks of each of those three
    dec_heads : heads of each of those three
    max_dets : N, detection slots per view
    mask_ratio : fraction of patches masked (one mask per timestep)
    teacher_dim : Dt, the teacher's feature width; 0 = no distillation head
    norm_pix_loss : reconstruct per-patch normalised pixels (paper App. D)
    cross_pool : how f_a is pooled over a detection's patches before the
        cross-view encoder ("mean" or "max")
    nmi_anchors, nmi_tau : the NMI estimator's clusters and temperature
    cross_other_views : in the cross-view encoder a detection attends only to
        detections of OTHER views (plus a learnt null token); its own token
        still reaches its output through the residual stream; False = the
        paper's attention over all detections of all views
    cross_strict : the cross-view feature of a detection is READ from the other
        views only: the blocks mix detections within each view, then one
        attention without a residual (query = the detection, keys and values =
        the other views' detections plus a learnt null token) gives its output,
        so nothing of the detection's own f_a reaches its reconstruction except
        through which other detections it matches (see docs/method.md)
    cross_match : how ``cross_strict`` picks the other views' detections:
        "attention" (learnt query/key projections, multi-head) or "cosine"
        (one head whose logits are the cosine similarities of the pooled f_a
        themselves over a learnt temperature, against a learnt null logit) or
        "cosine_z" (the same with each detection's cosines standardised over its
        candidates, see ``standardize_rows``)
    mask_per_view : draw one mask per view and timestep (shared by the view's
        detections) instead of one per timestep, so other views can see the
        patches a detection has masked
    recon_own_drop : probability, per detection and training step, that the
        reconstruction decoder gets NOT the detection's own f_s hat but only
        its cross-view feature, so those detections must be reconstructed from
        what the other views say about them (0 = the paper: always both)
    slot_half : which half of the encoder's channels carries the detection-slot
        sinusoid of the positional embedding: "f_s" (view-specific; a slot is
        a position within one view's sequence and means nothing in another
        view) or "f_a" (the first checkpoints' layout, where the slot reaches
        the view-agnostic half through the residual stream); see
        docs/method.md for the measurement behind the choice
    """

    img_height: int = 128
    img_width: int = 64
    patch_size: int = 16
    embed_dim: int = 192
    depth: int = 4
    num_heads: int = 3
    mlp_ratio: float = 4.0
    dec_dim: int = 128
    dec_depth: int = 2
    dec_heads: int = 4
    max_dets: int = 10
    mask_ratio: float = 0.75
    teacher_dim: int = 0
    norm_pix_loss: bool = True
    cross_pool: str = "mean"
    nmi_anchors: int = NUM_ANCHORS
    nmi_tau: float = TEMPERATURE
    cross_other_views: bool = False
    cross_strict: bool = False
    cross_match: str = "attention"
    mask_per_view: bool = False
    recon_own_drop: float = 0.0
    slot_half: str = "f_s"

    @property
    def grid(self) -> tuple[int, int]:
        """(gh, gw) patches per crop."""
        return self.img_height // self.patch_size, self.img_width // self.patch_size

    @property
    def num_patches(self) -> int:
        """M, patches per crop."""
        gh, gw = self.grid
        return gh * gw

    @property
    def num_visible(self) -> int:
        """Mv, visible patches per crop under the mask (at least 1)."""
        return max(1, int(round(self.num_patches * (1.0 - self.mask_ratio))))

    def validate(self) -> None:
        """Raise ValueError for an impossible architecture."""
        p = self.patch_size
        if p < 1 or self.img_height % p or self.img_width % p:
            raise ValueError(
                f"crop {self.img_height}x{self.img_width} is not a multiple of patch size {p}"
            )
        if self.embed_dim % 4 or self.embed_dim % self.num_heads:
            raise ValueError("embed_dim must be divisible by 4 and by num_heads")
        if self.dec_dim % 2 or self.dec_dim % self.dec_heads:
            raise ValueError("dec_dim must be even and divisible by dec_heads")
        if not 0.0 <= self.mask_ratio < 1.0:
            raise ValueError(f"mask_ratio must be in [0, 1), got {self.mask_ratio}")
        if not 0.0 <= self.recon_own_drop <= 1.0:
            raise ValueError(f"recon_own_drop must be in [0, 1], got {self.recon_own_drop}")
        if self.max_dets < 1:
            raise ValueError("max_dets must be at least 1")
        if self.cross_match not in ("attention", "cosine", "cosine_z"):
            raise ValueError(
                f"cross_match must be attention, cosine or cosine_z, got {self.cross_match!r}"
            )
        if self.slot_half not in ("f_a", "f_s"):
            raise ValueError(f"slot_half must be f_a or f_s, got {self.slot_half!r}")
        if self.cross_pool not in ("mean", "max"):
            raise ValueError(f"cross_pool must be mean or max, got {self.cross_pool!r}")
