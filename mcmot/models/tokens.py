"""Token and patch layout of CalibFree: patches, masks, attention biases, pooling.

Notation as in mcmot.models.calibfree: ``B`` timesteps, ``V`` views, ``N``
detection slots per view, ``M`` patches per crop, ``Mv`` visible patches,
``E`` encoder width.
"""

from __future__ import annotations

import torch

#: ImageNet normalisation applied to crops (RGB order).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
    d = crops.ndim  # positive axes: an ONNX export then keeps the permutation static
    x = crops.flip(-1).float().div(255.0).permute(*range(d - 3), d - 1, d - 3, d - 2)
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
