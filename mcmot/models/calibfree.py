"""The CalibFree model (paper Sec. 3.2): encoders, decoders and losses.

Shapes follow facebookresearch/mae: ``forward`` = :meth:`CalibFree.forward_encoder`
-> :meth:`CalibFree.forward_decoder` -> :meth:`CalibFree.forward_loss`.
Notation used in every docstring:

- ``B`` timesteps in a batch, ``V`` views, ``N`` detection slots per view
  (padded), ``n`` valid (non-padded) detections in the batch;
- ``H, W`` crop size, ``p`` patch size, ``M = (H/p)(W/p)`` patches per crop,
  ``Mv`` visible patches per crop (the same for every crop: one mask per
  timestep);
- ``E`` encoder width (``f_a`` and ``f_s`` are ``E/2`` each), ``Ed`` the width
  of the decoders and the cross-view encoder, ``Dt`` the teacher's width.

Padded detection slots are excluded from every attention (as keys) and from
every loss, instead of being fed as zero crops as the paper does; see
docs/method.md.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block

from mcmot.models.nmi import NUM_ANCHORS, TEMPERATURE, nmi
from mcmot.models.pos_embed import detection_sincos, grid_sincos

#: ImageNet normalisation applied to crops (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
#: Initial inverse temperature of ``cross_match="cosine"`` (CLIP-style, learnt in log space).
COSINE_LOGIT_SCALE = 10.0
#: Initial inverse temperature of ``cross_match="cosine_z"`` (on standardised cosines).
COSINE_Z_LOGIT_SCALE = 2.0
#: LayerNorm epsilon of timm's VisionTransformer (kept so the encoder matches it exactly).
LN_EPS = 1e-6


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


# ----------------------------------------------------------------- helpers
def patchify(imgs: torch.Tensor, p: int) -> torch.Tensor:
    """Crops to flattened patches.

    Parameters
    ----------
    imgs : (..., C, H, W)
    p : patch size

    Returns
    -------
    (..., M, p * p * C), patches in row-major order, each flattened as (p, p, C).
    """
    *lead, c, h, w = imgs.shape
    gh, gw = h // p, w // p
    x = imgs.reshape(-1, c, gh, p, gw, p)
    x = torch.einsum("nchpwq->nhwpqc", x)
    return x.reshape(*lead, gh * gw, p * p * c)


def unpatchify(x: torch.Tensor, p: int, grid: tuple[int, int], c: int = 3) -> torch.Tensor:
    """Inverse of :func:`patchify`: (..., M, p*p*C) -> (..., C, H, W)."""
    *lead, m, _ = x.shape
    gh, gw = grid
    x = x.reshape(-1, gh, gw, p, p, c)
    x = torch.einsum("nhwpqc->nchpwq", x)
    return x.reshape(*lead, c, gh * p, gw * p)


def random_masking(
    batch: int,
    num_patches: int,
    num_visible: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One random mask per timestep, shared by all its detections of all views.

    Parameters
    ----------
    batch : B timesteps
    num_patches : M
    num_visible : Mv patches kept
    generator : CPU random generator (for reproducible masks)

    Returns
    -------
    ids_keep : (B, Mv) int64, visible patch indices in shuffled order
    ids_restore : (B, M) int64, unshuffles ``[visible ++ masked]`` tokens to patch order
    mask : (B, M) float, 1 = masked, 0 = visible
    """
    noise = torch.rand(batch, num_patches, generator=generator)
    ids_shuffle = torch.argsort(noise, dim=1)
    ids_restore = torch.argsort(ids_shuffle, dim=1)
    mask = torch.ones(batch, num_patches)
    mask[:, :num_visible] = 0
    mask = torch.gather(mask, 1, ids_restore)
    return ids_shuffle[:, :num_visible].to(device), ids_restore.to(device), mask.to(device)


def key_padding_bias(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Additive attention bias that hides invalid keys.

    Parameters
    ----------
    valid : (S, L) bool, True for tokens that may be attended to

    Returns
    -------
    (S, 1, 1, L) with 0 for valid keys and -inf for the others (broadcast over
    heads and queries). Every row must keep at least one valid key.
    """
    bias = torch.zeros(valid.shape, dtype=dtype, device=valid.device)
    bias = bias.masked_fill(~valid, float("-inf"))
    return bias[:, None, None, :]


def other_view_bias(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Attention bias letting each detection see only valid detections of other views.

    Parameters
    ----------
    valid : (B, V, N) bool

    Returns
    -------
    (B, 1, 1 + V*N, 1 + V*N): token 0 is a null token every query may attend
    to (so no row is empty); 0 where allowed, -inf elsewhere.
    """
    b, v, n = valid.shape
    view = torch.arange(v, device=valid.device).repeat_interleave(n)
    allowed = (view[:, None] != view[None, :])[None] & valid.reshape(b, 1, v * n)
    allowed = torch.cat(
        [torch.ones(b, v * n, 1, dtype=torch.bool, device=valid.device), allowed], 2
    )
    top = torch.ones(b, 1, v * n + 1, dtype=torch.bool, device=valid.device)
    allowed = torch.cat([top, allowed], dim=1)
    bias = torch.zeros(allowed.shape, dtype=dtype, device=valid.device)
    return bias.masked_fill(~allowed, float("-inf"))[:, None]


def same_view_bias(valid: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """Attention bias letting each detection see the valid detections of its own view.

    Parameters
    ----------
    valid : (B, V, N) bool

    Returns
    -------
    (B, 1, V*N, V*N): 0 where allowed (same view and a valid key, or the token
    itself, so no row is empty), -inf elsewhere.
    """
    b, v, n = valid.shape
    view = torch.arange(v, device=valid.device).repeat_interleave(n)
    allowed = (view[:, None] == view[None, :])[None] & valid.reshape(b, 1, v * n)
    allowed = allowed | torch.eye(v * n, dtype=torch.bool, device=valid.device)[None]
    bias = torch.zeros(allowed.shape, dtype=dtype, device=valid.device)
    return bias.masked_fill(~allowed, float("-inf"))[:, None]


def standardize_rows(sim: torch.Tensor, ok: torch.Tensor, eps: float = 1.0e-8) -> torch.Tensor:
    """Standardise each row of similarities over its allowed entries.

    A positive affine map per row keeps each row's ranking, so a softmax over
    the result rewards exactly the ranking that cosine retrieval uses, at a
    scale that does not depend on how close all the similarities are (pooled
    ViT features of different people often have cosines of 0.99 and more).

    Parameters
    ----------
    sim : (B, Q, K) similarities
    ok : (B, Q, K) bool, the entries each row is standardised over

    Returns
    -------
    (B, Q, K): (sim - row mean) / row std over the ``ok`` entries (0 where a
    row has a single allowed entry; entries outside ``ok`` are meaningless).
    """
    w = ok.to(sim.dtype)
    cnt = w.sum(-1, keepdim=True).clamp(min=1.0)
    mean = (sim * w).sum(-1, keepdim=True) / cnt
    var = (((sim - mean) ** 2) * w).sum(-1, keepdim=True) / cnt
    return (sim - mean) / (var + eps).sqrt()


def per_view(t: torch.Tensor, views: int) -> torch.Tensor:
    """A per-timestep mask tensor (B, ...) or a per-view one (B, V, ...) as (B, V, ...)."""
    if t.dim() == 3:
        return t
    return t[:, None].expand(t.shape[0], views, *t.shape[1:])


def normalize_crops(crops: torch.Tensor) -> torch.Tensor:
    """uint8 BGR crops (..., H, W, 3) -> ImageNet-normalised RGB floats (..., 3, H, W)."""
    x = crops.flip(-1).float().div(255.0).movedim(-1, -3)
    mean = torch.tensor(IMAGENET_MEAN, device=x.device).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device).view(3, 1, 1)
    return (x - mean) / std


def pool_tokens(tokens: torch.Tensor, how: str) -> torch.Tensor:
    """Pool per-patch features: (..., M, D) -> (..., D) by "max" or "mean"."""
    if how == "max":
        return tokens.amax(dim=-2)
    if how == "mean":
        return tokens.mean(dim=-2)
    raise ValueError(f"pooling must be max or mean, got {how!r}")


def split_features(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split encoder features (..., E) into view-agnostic f_a and view-specific f_s (E/2 each)."""
    half = f.shape[-1] // 2
    return f[..., :half], f[..., half:]


def _norm(dim: int, **kwargs: object) -> nn.LayerNorm:
    """LayerNorm with timm ViT's epsilon."""
    return nn.LayerNorm(dim, eps=LN_EPS, **kwargs)  # type: ignore[arg-type]


def _blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    return nn.ModuleList(
        Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=_norm)
        for _ in range(depth)
    )


def _run(blocks: nn.ModuleList, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
    for blk in blocks:
        x = blk(x, attn_mask=bias)
    return x


# ----------------------------------------------------------------- encoder
class SingleViewEncoder(nn.Module):
    """The single-view encoder: a ViT over the visible tokens of all detections of one view.

    Parameter names are those of timm's ``VisionTransformer`` (``cls_token``,
    ``pos_embed``, ``patch_embed``, ``blocks``, ``norm``), so
    ``timm.models.VisionTransformer(img_size=(H, W), patch_size=p,
    embed_dim=E, depth=..., num_heads=..., num_classes=0).load_state_dict(
    encoder.state_dict())`` works. ``pos_embed`` is the fixed sinusoid of
    detection 0 (not trained); other detections use their own rows of the
    non-persistent ``det_pos`` table.
    """

    def __init__(self, cfg: CalibFreeConfig) -> None:
        super().__init__()
        e = cfg.embed_dim
        self.patch_size = cfg.patch_size
        self.patch_embed = PatchEmbed(
            img_size=(cfg.img_height, cfg.img_width), patch_size=cfg.patch_size, embed_dim=e
        )
        self.cls_token = nn.Parameter(torch.zeros(1, 1, e))
        self.slot_channel = e // 2 if cfg.slot_half == "f_s" else 0
        table = torch.from_numpy(detection_sincos(e, cfg.grid, cfg.max_dets, self.slot_channel))
        self.register_buffer("det_pos", table, persistent=False)  # (N, M, E)
        self.pos_embed = nn.Parameter(
            torch.cat([torch.zeros(1, 1, e), table[:1]], dim=1), requires_grad=False
        )  # (1, 1 + M, E): cls + detection 0, as timm lays it out
        self.blocks = _blocks(e, cfg.depth, cfg.num_heads, cfg.mlp_ratio)
        self.norm = _norm(e)

    def positions(self, num_dets: int) -> torch.Tensor:
        """(num_dets, M, E) positional embeddings, extended beyond N when needed."""
        if num_dets <= self.det_pos.shape[0]:
            return self.det_pos[:num_dets]
        m, e = self.det_pos.shape[1:]
        gh = self.patch_embed.grid_size
        table = detection_sincos(e, (int(gh[0]), int(gh[1])), num_dets, self.slot_channel)
        return torch.from_numpy(table).to(self.det_pos.device)

    def forward(
        self, imgs: torch.Tensor, valid: torch.Tensor, ids_keep: torch.Tensor | None
    ) -> torch.Tensor:
        """Encode the detections of each view together.

        Parameters
        ----------
        imgs : (S, N, 3, H, W) normalised crops, S = sequences (views x timesteps)
        valid : (S, N) bool, False for padded slots
        ids_keep : (S, Mv) visible patch indices per sequence, or None for all M patches

        Returns
        -------
        (S, N, Mv, E) per-patch features (Mv = M when ``ids_keep`` is None).
        """
        s, n = valid.shape
        x = self.patch_embed(imgs.flatten(0, 1))  # (S*N, M, E)
        e = x.shape[-1]
        x = x.view(s, n, -1, e) + self.positions(n)[None].to(x.dtype)
        if ids_keep is not None:
            idx = ids_keep[:, None, :, None].expand(s, n, ids_keep.shape[1], e)
            x = torch.gather(x, 2, idx)
        mv = x.shape[2]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(s, 1, e)
        seq = torch.cat([cls, x.reshape(s, n * mv, e)], dim=1)
        keys = torch.cat(
            [
                torch.ones(s, 1, dtype=torch.bool, device=valid.device),
                valid.repeat_interleave(mv, 1),
            ],
            dim=1,
        )
        seq = self.norm(_run(self.blocks, seq, key_padding_bias(keys, seq.dtype)))
        return seq[:, 1:].reshape(s, n, mv, e)


# ----------------------------------------------------------------- full model
class CalibFree(nn.Module):
    """CalibFree: single-view encoder, distillation decoder, cross-view encoder,
    reconstruction decoder, and the three losses.

    Parameters
    ----------
    cfg : the architecture
    """

    def __init__(self, cfg: CalibFreeConfig) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        half, d = cfg.embed_dim // 2, cfg.dec_dim
        self.encoder = SingleViewEncoder(cfg)
        self.register_buffer(
            "dec_pos", torch.from_numpy(grid_sincos(d, cfg.grid))[None], persistent=False
        )  # (1, M, Ed)
        # distillation decoder (on f_s)
        self.distill_embed = nn.Linear(half, d)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, d))
        self.distill_blocks = _blocks(d, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio)
        self.distill_norm = _norm(d)
        self.distill_head = nn.Linear(d, cfg.teacher_dim) if cfg.teacher_dim > 0 else None
        # cross-view encoder (on pooled f_a)
        self.cross_embed = nn.Linear(half, d)
        self.cross_blocks = _blocks(d, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio)
        self.cross_norm = _norm(d)
        others = cfg.cross_other_views or cfg.cross_strict
        self.cross_null = nn.Parameter(torch.zeros(1, 1, d)) if others else None
        if cfg.cross_strict:  # the read-out attention (no residual)
            self.cross_q = nn.Linear(d, d)
            self.cross_kv = nn.Linear(d, 2 * d)
            self.cross_out = nn.Linear(d, d)
            scale = COSINE_Z_LOGIT_SCALE if cfg.cross_match == "cosine_z" else COSINE_LOGIT_SCALE
            self.cross_logit_scale = nn.Parameter(torch.tensor(scale).log())
            self.cross_null_logit = nn.Parameter(torch.zeros(()))
        # reconstruction decoder (cross-view feature + per-patch f_s hat)
        self.recon_embed = nn.Linear(d, d)
        self.recon_cross = nn.Linear(d, d)
        self.recon_blocks = _blocks(d, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio)
        self.recon_norm = _norm(d)
        self.recon_pred = nn.Linear(d, cfg.patch_size**2 * 3)
        self._init_weights()

    def _init_weights(self) -> None:
        w = self.encoder.patch_embed.proj.weight
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))
        nn.init.normal_(self.encoder.cls_token, std=0.02)
        nn.init.normal_(self.mask_token, std=0.02)
        if self.cross_null is not None:
            nn.init.normal_(self.cross_null, std=0.02)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    # ------------------------------------------------------------- encoder
    def forward_encoder(
        self, imgs: torch.Tensor, valid: torch.Tensor, ids_keep: torch.Tensor
    ) -> torch.Tensor:
        """Encode the visible patches of every view of every timestep.

        Parameters
        ----------
        imgs : (B, V, N, 3, H, W) normalised crops
        valid : (B, V, N) bool
        ids_keep : (B, Mv), the timestep's shared mask, or (B, V, Mv), one per view

        Returns
        -------
        latent : (B, V, N, Mv, E)
        """
        b, v, n = valid.shape
        keep = per_view(ids_keep, v).flatten(0, 1)  # (B*V, Mv)
        lat = self.encoder(imgs.flatten(0, 1), valid.flatten(0, 1), keep)
        return lat.view(b, v, n, *lat.shape[2:])

    # ------------------------------------------------------------- decoders
    def distill_decoder(self, f_s: torch.Tensor, ids_restore: torch.Tensor) -> torch.Tensor:
        """f_s of the visible patches -> per-patch features of the whole crop.

        Parameters
        ----------
        f_s : (n, Mv, E/2) view-specific features of valid detections
        ids_restore : (n, M), each detection's timestep's unshuffle indices

        Returns
        -------
        (n, M, Ed), the paper's f_s hat.
        """
        x = self.distill_embed(f_s)
        n, mv, d = x.shape
        m = ids_restore.shape[1]
        x = torch.cat([x, self.mask_token.expand(n, m - mv, d).to(x.dtype)], dim=1)
        x = torch.gather(x, 1, ids_restore[..., None].expand(n, m, d))
        x = x + self.dec_pos.to(x.dtype)
        return self.distill_norm(_run(self.distill_blocks, x))

    def cross_view_encoder(self, f_a: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
        """Pooled f_a of every detection of every view -> cross-view features.

        Parameters
        ----------
        f_a : (B, V, N, Mv, E/2)
        valid : (B, V, N) bool; each timestep needs at least one valid detection

        Returns
        -------
        (B, V, N, Ed), the paper's f_a hat (padded slots hold unused values).
        """
        b, v, n = valid.shape
        pooled = pool_tokens(f_a, self.cfg.cross_pool)
        x = self.cross_embed(pooled).reshape(b, v * n, -1)
        if self.cfg.cross_strict:
            return self._cross_read_other_views(x, valid, pooled).view(b, v, n, -1)
        if self.cross_null is None:
            x = _run(self.cross_blocks, x, key_padding_bias(valid.reshape(b, v * n), x.dtype))
            return self.cross_norm(x).view(b, v, n, -1)
        x = torch.cat([self.cross_null.expand(b, 1, -1).to(x.dtype), x], dim=1)
        x = _run(self.cross_blocks, x, other_view_bias(valid, x.dtype))
        return self.cross_norm(x[:, 1:]).view(b, v, n, -1)

    def _cross_read_other_views(
        self, x: torch.Tensor, valid: torch.Tensor, pooled: torch.Tensor
    ) -> torch.Tensor:
        """The ``cross_strict`` cross-view encoder.

        Parameters
        ----------
        x : (B, V*N, Ed) projected pooled f_a
        valid : (B, V, N) bool
        pooled : (B, V, N, E/2) the pooled f_a (for ``cross_match="cosine"``)

        Returns
        -------
        (B, V*N, Ed): for each detection, an attention read-out of the other
        views' detections (and the null token), with no residual of its own.
        """
        b, vn, d = x.shape
        h = self.cfg.dec_heads
        x = _run(self.cross_blocks, x, same_view_bias(valid, x.dtype))
        ctx = torch.cat([self.cross_null.expand(b, 1, d).to(x.dtype), x], dim=1)
        bias = other_view_bias(valid, x.dtype)[:, :, 1:]  # rows of the real tokens
        k, val = self.cross_kv(ctx).chunk(2, -1)
        if self.cfg.cross_match in ("cosine", "cosine_z"):
            f = F.normalize(pooled.reshape(b, vn, -1), dim=-1)
            sim = f @ f.transpose(1, 2)
            if self.cfg.cross_match == "cosine_z":
                sim = standardize_rows(sim, bias[:, 0, :, 1:] == 0)
            logits = self.cross_logit_scale.exp() * sim
            null = self.cross_null_logit.expand(b, vn, 1).to(logits.dtype)
            attn = torch.softmax(torch.cat([null, logits], dim=2) + bias[:, 0], dim=2)
            return self.cross_norm(self.cross_out(attn @ val))
        q = self.cross_q(x).view(b, vn, h, d // h).transpose(1, 2)
        k, val = (t.reshape(b, vn + 1, h, d // h).transpose(1, 2) for t in (k, val))
        out = F.scaled_dot_product_attention(q, k, val, attn_mask=bias)
        return self.cross_norm(self.cross_out(out.transpose(1, 2).reshape(b, vn, d)))

    def recon_decoder(
        self, fs_hat: torch.Tensor, fa_hat: torch.Tensor, own_drop: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Predict the pixels of every patch of each valid detection.

        Parameters
        ----------
        fs_hat : (n, M, Ed) distillation decoder output
        fa_hat : (n, Ed) cross-view feature of the same detections
        own_drop : (n,) bool or None; True = withhold that detection's own
            ``fs_hat`` (zeros instead), leaving only its cross-view feature

        Returns
        -------
        (n, M, p * p * 3) predicted (normalised) patch pixels.
        """
        if own_drop is not None:
            fs_hat = fs_hat * (~own_drop)[:, None, None].to(fs_hat.dtype)
        x = self.recon_embed(fs_hat) + self.recon_cross(fa_hat)[:, None, :]
        x = x + self.dec_pos.to(x.dtype)
        return self.recon_pred(self.recon_norm(_run(self.recon_blocks, x)))

    def forward_decoder(
        self,
        latent: torch.Tensor,
        valid: torch.Tensor,
        ids_restore: torch.Tensor,
        own_drop: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Run the decoders on the valid detections.

        Parameters
        ----------
        latent : (B, V, N, Mv, E)
        valid : (B, V, N) bool
        ids_restore : (B, M), or (B, V, M) with one mask per view
        own_drop : (B, V, N) bool or None, see ``CalibFreeConfig.recon_own_drop``

        Returns
        -------
        dict with ``f_a``, ``f_s`` (n, Mv, E/2), ``recon`` (n, M, p*p*3) and,
        with a teacher, ``distill`` (n, M, Dt).
        """
        b, v, n = valid.shape
        f_a, f_s = split_features(latent)
        sel = valid.flatten()
        slot = torch.arange(b * v, device=valid.device).repeat_interleave(n)[sel]
        fa_v = f_a.flatten(0, 2)[sel]
        fs_v = f_s.flatten(0, 2)[sel]
        fs_hat = self.distill_decoder(fs_v, per_view(ids_restore, v).flatten(0, 1)[slot])
        fa_hat = self.cross_view_encoder(f_a, valid).flatten(0, 2)[sel]
        drop = None if own_drop is None else own_drop.flatten()[sel]
        out = {"f_a": fa_v, "f_s": fs_v, "recon": self.recon_decoder(fs_hat, fa_hat, drop)}
        if self.distill_head is not None:
            out["distill"] = self.distill_head(fs_hat)
        return out

    # ------------------------------------------------------------- losses
    def forward_loss(
        self,
        imgs: torch.Tensor,
        valid: torch.Tensor,
        mask: torch.Tensor,
        pred: dict[str, torch.Tensor],
        teacher: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """The three losses.

        Parameters
        ----------
        imgs : (B, V, N, 3, H, W)
        valid : (B, V, N) bool
        mask : (B, M) or (B, V, M), 1 = masked
        pred : the output of :meth:`forward_decoder`
        teacher : (B, V, N, M, Dt) teacher patch features of the unmasked crops, or None

        Returns
        -------
        dict of 0-d tensors: ``recon`` (MSE on masked patches), ``nmi``
        (NMI(f_a, f_s) over visible tokens) and, with a teacher, ``distill``
        (SmoothL1 over all patches).
        """
        b, v, n = valid.shape
        sel = valid.flatten()
        target = patchify(imgs.flatten(0, 2)[sel], self.cfg.patch_size).float()
        if self.cfg.norm_pix_loss:
            mean = target.mean(dim=-1, keepdim=True)
            var = target.var(dim=-1, keepdim=True)
            target = (target - mean) / (var + 1.0e-6) ** 0.5
        slot = torch.arange(b * v, device=valid.device).repeat_interleave(n)[sel]
        m = per_view(mask, v).flatten(0, 1)[slot]  # (n, M)
        per_patch = ((pred["recon"].float() - target) ** 2).mean(dim=-1)
        losses = {"recon": (per_patch * m).sum() / m.sum().clamp(min=1.0)}
        f_a, f_s = pred["f_a"], pred["f_s"]
        losses["nmi"] = nmi(
            f_a.reshape(-1, f_a.shape[-1]),
            f_s.reshape(-1, f_s.shape[-1]),
            self.cfg.nmi_anchors,
            self.cfg.nmi_tau,
        )
        if "distill" in pred:
            if teacher is None:
                raise ValueError("the model has a distillation head but no teacher targets")
            tgt = teacher.flatten(0, 2)[sel].float()
            losses["distill"] = F.smooth_l1_loss(pred["distill"].float(), tgt)
        return losses

    def forward(
        self,
        imgs: torch.Tensor,
        valid: torch.Tensor,
        ids_keep: torch.Tensor,
        ids_restore: torch.Tensor,
        mask: torch.Tensor,
        teacher: torch.Tensor | None = None,
        own_drop: torch.Tensor | None = None,
    ) -> dict[str, torch.Tensor]:
        """Encoder -> decoders -> losses for one batch of timesteps (shapes above)."""
        latent = self.forward_encoder(imgs, valid, ids_keep)
        pred = self.forward_decoder(latent, valid, ids_restore, own_drop)
        return self.forward_loss(imgs, valid, mask, pred, teacher)

    # ------------------------------------------------------------- inference
    @torch.no_grad()
    def embed(self, imgs: torch.Tensor, valid: torch.Tensor, pooling: str = "max") -> torch.Tensor:
        """Inference (paper Sec. 3.3): unmasked encoding, pooled per detection.

        Parameters
        ----------
        imgs : (S, N, 3, H, W) the detections of one frame of one view per row
        valid : (S, N) bool
        pooling : "max" (paper App. D) or "mean"

        Returns
        -------
        (S, N, E) pooled features; split with :func:`split_features`.
        """
        return pool_tokens(self.encoder(imgs, valid, None), pooling)
