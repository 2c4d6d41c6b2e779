"""CalibFree's single-view encoder (a timm-compatible ViT) and the transformer blocks
every part of the model is built from."""

from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers import PatchEmbed
from timm.models.vision_transformer import Block

from mcmot.models.calibfree_config import CalibFreeConfig
from mcmot.models.pos_embed import detection_sincos
from mcmot.models.tokens import key_padding_bias

#: LayerNorm epsilon of timm's VisionTransformer (kept so the encoder matches it exactly).
LN_EPS = 1e-6


def layer_norm(dim: int, **kwargs: object) -> nn.LayerNorm:
    """LayerNorm with timm ViT's epsilon."""
    return nn.LayerNorm(dim, eps=LN_EPS, **kwargs)  # type: ignore[arg-type]


def vit_blocks(dim: int, depth: int, heads: int, mlp_ratio: float) -> nn.ModuleList:
    """``depth`` timm ViT blocks of width ``dim`` (qkv bias, timm's LayerNorm epsilon)."""
    return nn.ModuleList(
        Block(dim, heads, mlp_ratio=mlp_ratio, qkv_bias=True, norm_layer=layer_norm)
        for _ in range(depth)
    )


def run_blocks(
    blocks: nn.ModuleList, x: torch.Tensor, bias: torch.Tensor | None = None
) -> torch.Tensor:
    """Apply ``blocks`` in turn: (S, L, D) -> (S, L, D), ``bias`` an additive attention mask
    broadcastable to (S, heads, L, L) (see mcmot.models.tokens)."""
    for blk in blocks:
        x = blk(x, attn_mask=bias)
    return x


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
        self.blocks = vit_blocks(e, cfg.depth, cfg.num_heads, cfg.mlp_ratio)
        self.norm = layer_norm(e)

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
        seq = self.norm(run_blocks(self.blocks, seq, key_padding_bias(keys, seq.dtype)))
        return seq[:, 1:].reshape(s, n, mv, e)
