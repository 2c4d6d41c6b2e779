"""The CalibFree model (paper Sec. 3.2): encoders, decoders and losses.

Shapes follow facebookresearch/mae: ``forward`` = :meth:`CalibFree.forward_encoder`
-> :meth:`CalibFree.forward_decoder` -> :meth:`CalibFree.forward_loss`. The
architecture's settings are mcmot.models.calibfree_config's, the single-view
encoder mcmot.models.encoder's, patches, masks and attention biases
mcmot.models.tokens'.
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

import torch
import torch.nn as nn
import torch.nn.functional as F

from mcmot.models.calibfree_config import CalibFreeConfig
from mcmot.models.encoder import SingleViewEncoder, layer_norm, run_blocks, vit_blocks
from mcmot.models.nmi import nmi
from mcmot.models.pos_embed import grid_sincos
from mcmot.models.tokens import (
    key_padding_bias,
    other_view_bias,
    patchify,
    per_view,
    pool_tokens,
    same_view_bias,
    split_features,
    standardize_rows,
)

#: Initial inverse temperature of ``cross_match="cosine"`` (CLIP-style, learnt in log space).
COSINE_LOGIT_SCALE = 10.0
#: Initial inverse temperature of ``cross_match="cosine_z"`` (on standardised cosines).
COSINE_Z_LOGIT_SCALE = 2.0


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
        self.distill_blocks = vit_blocks(d, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio)
        self.distill_norm = layer_norm(d)
        self.distill_head = nn.Linear(d, cfg.teacher_dim) if cfg.teacher_dim > 0 else None
        # cross-view encoder (on pooled f_a)
        self.cross_embed = nn.Linear(half, d)
        self.cross_blocks = vit_blocks(d, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio)
        self.cross_norm = layer_norm(d)
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
        self.recon_blocks = vit_blocks(d, cfg.dec_depth, cfg.dec_heads, cfg.mlp_ratio)
        self.recon_norm = layer_norm(d)
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
        return self.distill_norm(run_blocks(self.distill_blocks, x))

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
            x = run_blocks(self.cross_blocks, x, key_padding_bias(valid.reshape(b, v * n), x.dtype))
            return self.cross_norm(x).view(b, v, n, -1)
        x = torch.cat([self.cross_null.expand(b, 1, -1).to(x.dtype), x], dim=1)
        x = run_blocks(self.cross_blocks, x, other_view_bias(valid, x.dtype))
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
        x = run_blocks(self.cross_blocks, x, same_view_bias(valid, x.dtype))
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
        return self.recon_pred(self.recon_norm(run_blocks(self.recon_blocks, x)))

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
