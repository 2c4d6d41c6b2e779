"""The CalibFree model: helpers, shapes, the shared mask, padding, losses, timm loading."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import timm
import torch

from mcmot.models.calibfree import CalibFree
from mcmot.models.calibfree_config import CalibFreeConfig
from mcmot.models.pos_embed import detection_sincos, sincos_1d, split_dims
from mcmot.models.tokens import (
    patchify,
    pool_tokens,
    random_masking,
    split_features,
    standardize_rows,
    unpatchify,
)

TINY = CalibFreeConfig(
    img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=2, num_heads=2,
    dec_dim=16, dec_depth=1, dec_heads=2, max_dets=3, teacher_dim=12,
)  # fmt: skip


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _batch(cfg: CalibFreeConfig, b: int = 2, v: int = 2, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    imgs = torch.randn(b, v, cfg.max_dets, 3, cfg.img_height, cfg.img_width, generator=g)
    valid = torch.ones(b, v, cfg.max_dets, dtype=torch.bool)
    valid[0, 1, 1:] = False
    valid[1, 0, 2] = False
    teacher = torch.randn(b, v, cfg.max_dets, cfg.num_patches, cfg.teacher_dim, generator=g)
    keep, restore, mask = random_masking(b, cfg.num_patches, cfg.num_visible, g)
    return imgs, valid, keep, restore, mask, teacher


# ----------------------------------------------------------------- helpers
def test_patchify_hand_values_and_round_trip():
    img = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)  # C=2, H=4, W=6
    p = patchify(img, 2)
    assert p.shape == (1, 6, 8)
    # patch (row 0, col 1) holds pixels rows 0-1, cols 2-3, flattened as (p, p, C)
    expected = [img[0, c, r, q].item() for r in (0, 1) for q in (2, 3) for c in (0, 1)]
    assert p[0, 1].tolist() == expected
    assert torch.equal(unpatchify(p, 2, (2, 3), c=2), img)


def test_random_masking_counts_and_restore():
    keep, restore, mask = random_masking(3, 8, 2, torch.Generator().manual_seed(1))
    assert keep.shape == (3, 2) and restore.shape == (3, 8) and mask.shape == (3, 8)
    assert mask.sum(dim=1).tolist() == [6.0, 6.0, 6.0]
    for b in range(3):
        assert mask[b, keep[b]].sum() == 0  # kept patches are the unmasked ones


def test_positional_embeddings_distinct_per_detection_and_patch():
    table = detection_sincos(32, (4, 2), 5).reshape(-1, 32)
    dists = np.linalg.norm(table[:, None] - table[None], axis=-1)
    np.fill_diagonal(dists, 1.0)
    assert dists.min() > 1e-3
    d_det, d_row, d_col = split_dims(32)
    assert (d_det, d_row + d_col) == (8, 24)
    assert np.allclose(sincos_1d(4, np.array([0.0])), [[0, 0, 1, 1]])


def test_the_detection_slot_lives_in_the_view_specific_half():
    """Only channels of the f_s half differ between two slots; "f_a" keeps the first layout."""
    model = CalibFree(TINY)
    table = model.encoder.positions(3)  # (3, M, E)
    varies = (table[1] - table[0]).abs().amax(0) > 0  # (E,)
    half = TINY.embed_dim // 2
    assert varies[half:].any() and not varies[:half].any()
    old = CalibFree(dataclasses.replace(TINY, slot_half="f_a")).encoder.positions(3)
    assert torch.equal(old, torch.from_numpy(detection_sincos(32, TINY.grid, 3)))
    with pytest.raises(ValueError, match="slot_half"):
        CalibFree(dataclasses.replace(TINY, slot_half="both"))


def test_pool_and_split():
    t = torch.tensor([[[1.0, -2.0, 3.0, 0.0], [3.0, 0.0, -1.0, 2.0]]])  # (1, M=2, 4)
    assert pool_tokens(t, "max").tolist() == [[3.0, 0.0, 3.0, 2.0]]
    assert pool_tokens(t, "mean").tolist() == [[2.0, -1.0, 1.0, 1.0]]
    fa, fs = split_features(torch.arange(6.0))
    assert fa.tolist() == [0.0, 1.0, 2.0] and fs.tolist() == [3.0, 4.0, 5.0]


# ----------------------------------------------------------------- model
def test_shapes_and_finite_losses():
    torch.manual_seed(0)
    model = CalibFree(TINY)
    imgs, valid, keep, restore, mask, teacher = _batch(TINY)
    latent = model.forward_encoder(imgs, valid, keep)
    assert latent.shape == (2, 2, 3, TINY.num_visible, 32)
    pred = model.forward_decoder(latent, valid, restore)
    n = int(valid.sum())
    assert pred["recon"].shape == (n, TINY.num_patches, 8 * 8 * 3)
    assert pred["distill"].shape == (n, TINY.num_patches, 12)
    assert pred["f_a"].shape == pred["f_s"].shape == (n, TINY.num_visible, 16)
    losses = model.forward_loss(imgs, valid, mask, pred, teacher)
    assert set(losses) == {"recon", "nmi", "distill"}
    assert all(torch.isfinite(v) for v in losses.values())
    sum(losses.values()).backward()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


def test_one_mask_shared_by_all_detections_of_all_views():
    torch.manual_seed(0)
    model = CalibFree(TINY).eval()
    imgs, valid, keep, _, mask, _ = _batch(TINY)
    base = model.forward_encoder(imgs, valid, keep)
    p = TINY.patch_size
    gw = TINY.grid[1]
    masked = int(torch.nonzero(mask[0])[0])
    visible = int(keep[0, 0])
    for patch, should_change in ((masked, False), (visible, True)):
        changed = imgs.clone()
        r, c = divmod(patch, gw)
        changed[0, 1, 0, :, r * p : (r + 1) * p, c * p : (c + 1) * p] += 5.0  # view 1, det 0
        out = model.forward_encoder(changed, valid, keep)
        assert (not torch.allclose(out, base)) == should_change


def test_padded_slots_change_nothing():
    torch.manual_seed(0)
    model = CalibFree(TINY)
    imgs, valid, keep, restore, mask, teacher = _batch(TINY)
    other = imgs.clone()
    other[~valid] = torch.randn_like(other[~valid]) * 100
    other_t = teacher.clone()
    other_t[~valid] = 1e3

    def run(x, t):
        model.zero_grad()
        losses = model(x, valid, keep, restore, mask, t)
        sum(losses.values()).backward()
        return losses, [p.grad.clone() for p in model.parameters() if p.grad is not None]

    l1, g1 = run(imgs, teacher)
    l2, g2 = run(other, other_t)
    for k in l1:
        assert torch.allclose(l1[k], l2[k], atol=1e-6, rtol=1e-5), k
    assert all(torch.allclose(a, b, atol=1e-6, rtol=1e-4) for a, b in zip(g1, g2, strict=True))


def test_no_teacher_means_no_distillation_head():
    model = CalibFree(CalibFreeConfig(**{**TINY.__dict__, "teacher_dim": 0}))
    assert model.distill_head is None
    imgs, valid, keep, restore, mask, _ = _batch(TINY)
    assert set(model(imgs, valid, keep, restore, mask)) == {"recon", "nmi"}


def test_encoder_state_dict_loads_into_timm_vit_and_matches():
    torch.manual_seed(0)
    model = CalibFree(TINY).eval()
    vit = timm.models.VisionTransformer(
        img_size=(32, 16), patch_size=8, embed_dim=32, depth=2, num_heads=2, num_classes=0
    ).eval()
    vit.load_state_dict(model.encoder.state_dict(), strict=True)
    x = torch.randn(1, 3, 32, 16)
    ours = model.encoder(x[None], torch.ones(1, 1, dtype=torch.bool), None)[0, 0]
    theirs = vit.forward_features(x)[0, 1:]
    assert torch.allclose(ours, theirs, atol=1e-5)


def test_embed_is_unmasked_and_pooled():
    model = CalibFree(TINY).eval()
    imgs = torch.randn(2, 3, 3, 32, 16)
    valid = torch.tensor([[True, True, False], [True, False, False]])
    out = model.embed(imgs, valid, "max")
    assert out.shape == (2, 3, 32)
    again = imgs.clone()
    again[0, 2] = 9.0  # a padded slot
    assert torch.allclose(model.embed(again, valid, "max")[valid], out[valid], atol=1e-6)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="multiple of patch size"):
        CalibFree(CalibFreeConfig(img_height=30))
    with pytest.raises(ValueError, match="cross_match"):
        CalibFree(CalibFreeConfig(cross_match="dot"))


def test_other_view_bias_hand_values():
    from mcmot.models.tokens import other_view_bias

    valid = torch.tensor([[[True, False], [True, True]]])  # 2 views x 2 slots
    allowed = other_view_bias(valid, torch.float32)[0, 0] == 0
    # token order: null, v0d0, v0d1, v1d0, v1d1
    assert allowed[:, 0].all() and allowed[0].all()
    assert allowed[1].tolist() == [True, False, False, True, True]  # v0d0 sees view 1 only
    assert allowed[3].tolist() == [True, True, False, False, False]  # v1d0 sees v0d0 (v0d1 pad)


def test_cross_other_views_variant_runs_and_ignores_padding():
    torch.manual_seed(0)
    cfg = CalibFreeConfig(**{**TINY.__dict__, "cross_other_views": True})
    model = CalibFree(cfg)
    imgs, valid, keep, restore, mask, teacher = _batch(cfg)
    losses = model(imgs, valid, keep, restore, mask, teacher)
    assert all(torch.isfinite(v) for v in losses.values())
    other = imgs.clone()
    other[~valid] = 50.0
    again = model(other, valid, keep, restore, mask, teacher)
    assert all(torch.allclose(losses[k], again[k], atol=1e-6) for k in losses)


def _strict(**kw) -> CalibFreeConfig:
    return CalibFreeConfig(**{**TINY.__dict__, "cross_strict": True, **kw})


def test_cross_strict_reads_only_other_views():
    torch.manual_seed(0)
    cfg = _strict()
    model = CalibFree(cfg).eval()
    e = cfg.embed_dim // 2
    f_a = torch.randn(1, 2, cfg.max_dets, 4, e)
    valid = torch.ones(1, 2, cfg.max_dets, dtype=torch.bool)
    valid[0, 1] = False  # view 1 is empty: view 0 can only read the null token
    out = model.cross_view_encoder(f_a, valid)[0, 0]
    assert torch.allclose(out, out[:1].expand_as(out), atol=1e-5)  # the same for every detection
    changed = f_a.clone()
    changed[0, 0] += 3.0 * torch.randn_like(changed[0, 0])  # own view's features do not leak
    assert torch.allclose(model.cross_view_encoder(changed, valid)[0, 0], out, atol=1e-5)
    valid[0, 1, 0] = True  # one detection in view 1: now its feature is read
    assert not torch.allclose(model.cross_view_encoder(f_a, valid)[0, 0], out, atol=1e-3)


def test_cross_strict_runs_and_ignores_padding():
    torch.manual_seed(0)
    cfg = _strict(mask_per_view=True)
    model = CalibFree(cfg)
    imgs, valid, _, _, _, teacher = _batch(cfg)
    keep, restore, mask = random_masking(4, cfg.num_patches, cfg.num_visible)
    keep, restore, mask = (t.view(2, 2, -1) for t in (keep, restore, mask))
    losses = model(imgs, valid, keep, restore, mask, teacher)
    assert all(torch.isfinite(v) for v in losses.values())
    other = imgs.clone()
    other[~valid] = 50.0
    again = model(other, valid, keep, restore, mask, teacher)
    assert all(torch.allclose(losses[k], again[k], atol=1e-6) for k in losses)
    losses["recon"].backward()  # the reconstruction reaches f_a through the read-out
    assert model.cross_embed.weight.grad.abs().sum() > 0


def test_per_view_masks_equal_to_the_shared_mask_give_the_same_losses():
    torch.manual_seed(0)
    model = CalibFree(TINY)
    imgs, valid, keep, restore, mask, teacher = _batch(TINY)
    shared = model(imgs, valid, keep, restore, mask, teacher)
    rep = [t[:, None].repeat(1, 2, 1) for t in (keep, restore, mask)]
    per = model(imgs, valid, *rep, teacher)
    assert all(torch.allclose(shared[k], per[k], atol=1e-6) for k in shared)


@pytest.mark.parametrize("match", ["cosine", "cosine_z"])
def test_cross_strict_cosine_matching_picks_the_most_similar_other_view_detection(match):
    torch.manual_seed(0)
    cfg = _strict(cross_match=match, max_dets=2)
    model = CalibFree(cfg).eval()
    with torch.no_grad():
        model.cross_logit_scale.fill_(np.log(1000.0))  # near-hard matching
        model.cross_null_logit.fill_(-1000.0)
    e = cfg.embed_dim // 2
    a, b = torch.randn(e), torch.randn(e)
    f_a = torch.stack([torch.stack([a, b]), torch.stack([b, a])])[None, :, :, None]  # (1,2,2,1,E/2)
    valid = torch.ones(1, 2, 2, dtype=torch.bool)
    out = model.cross_view_encoder(f_a, valid)[0]  # (V=2, N=2, Ed)
    # the views hold the same set {a, b} (no positions in the cross-view encoder), so the value
    # of "a" is the same in both views: each detection reads the other view's copy of itself
    assert torch.allclose(out[0, 0], out[1, 1], atol=1e-4)  # both read an "a"
    assert torch.allclose(out[0, 1], out[1, 0], atol=1e-4)  # both read a "b"
    assert not torch.allclose(out[0, 0], out[0, 1], atol=1e-2)


def test_recon_own_drop_leaves_only_the_cross_view_feature():
    torch.manual_seed(0)
    cfg = _strict(recon_own_drop=0.5)
    model = CalibFree(cfg).eval()
    n, m, d = 3, cfg.num_patches, cfg.dec_dim
    fs_hat, fa_hat = torch.randn(n, m, d), torch.randn(n, d)
    drop = torch.tensor([True, False, True])
    out = model.recon_decoder(fs_hat, fa_hat, drop)
    other = model.recon_decoder(fs_hat + torch.randn_like(fs_hat), fa_hat, drop)
    assert torch.allclose(out[drop], other[drop], atol=1e-6)  # own f_s hat withheld
    assert not torch.allclose(out[~drop], other[~drop], atol=1e-3)
    assert torch.allclose(out[~drop], model.recon_decoder(fs_hat, fa_hat)[~drop], atol=1e-6)
    nudged = model.recon_decoder(fs_hat, fa_hat + 1.0, drop)
    assert not torch.allclose(out[drop], nudged[drop], atol=1e-3)  # the cross view still counts


def test_recon_own_drop_must_be_a_probability():
    with pytest.raises(ValueError, match="recon_own_drop"):
        CalibFree(_strict(recon_own_drop=1.5))


def test_standardize_rows_hand_values_keep_the_ranking():
    sim = torch.tensor([[[0.99, 0.98, 0.97, 5.0]]])  # the last entry is not allowed
    ok = torch.tensor([[[True, True, True, False]]])
    z = standardize_rows(sim, ok)[..., :3]
    std = (2.0 / 3.0) ** 0.5 * 0.01
    assert torch.allclose(z, torch.tensor([[[0.01, 0.0, -0.01]]]) / std, atol=1e-3)
    assert torch.equal(z.argsort(-1), sim[..., :3].argsort(-1))
    single = standardize_rows(torch.tensor([[[0.5, 0.2]]]), torch.tensor([[[True, False]]]))
    assert single[0, 0, 0] == 0.0  # one candidate: nothing to rank
