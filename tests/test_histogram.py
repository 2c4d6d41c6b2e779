"""`extract-features --model histogram`: colour histograms, counted by hand, through the stage."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from pretrain_fixtures import make_tiny_scene
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.crops import crop_resize
from mcmot.errors import McmotError
from mcmot.frames import open_source
from mcmot.models.histogram import DIM, SIZE, colour_histograms
from mcmot.motio import read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.features import FeaturesConfig, run_extract_features


def test_two_colour_crop_counted_by_hand():
    """Upper half pure blue (BGR 255,0,0), lower half two greys: bins counted by hand."""
    crop = np.zeros((1, 4, 2, 3), np.uint8)
    crop[0, :2] = (255, 0, 0)  # level (7, 0, 0): bin 7*64 = 448 of the upper half
    crop[0, 2:, 0] = (40, 40, 40)  # level 1 each: bin 64 + 8 + 1 = 73 of the lower half
    crop[0, 2:, 1] = (250, 250, 250)  # level 7 each: bin 511
    f = colour_histograms(crop)[0]
    expected = np.zeros(DIM, np.float32)
    expected[448] = np.sqrt(4)  # four upper pixels
    expected[512 + 73] = expected[512 + 511] = np.sqrt(2)  # two lower pixels each
    expected /= np.linalg.norm(expected)
    assert f.shape == (DIM,)
    assert np.allclose(f, expected)


def test_a_crops_feature_is_its_own_pixels_alone():
    rng = np.random.default_rng(0)
    crops = rng.integers(0, 256, (5, 8, 4, 3), dtype=np.uint8)
    together = colour_histograms(crops)
    alone = np.stack([colour_histograms(crops[i : i + 1])[0] for i in range(5)])
    assert np.array_equal(together, alone)
    assert np.allclose(np.linalg.norm(together, axis=1), 1.0)
    assert np.array_equal(colour_histograms(crops[::-1]), together[::-1])


def test_bad_crop_shape_is_refused():
    with pytest.raises(ValueError, match="B, H, W, 3"):
        colour_histograms(np.zeros((2, 8, 4), np.uint8))


@pytest.fixture()
def scene(tmp_path):
    return make_tiny_scene(tmp_path / "scene", frames=3, persons=3)


def test_stage_writes_each_rows_histogram_in_both_halves(scene):
    out = run_extract_features(scene, FeaturesConfig(model="histogram"))
    assert [r.dim_a for r in out] == [DIM, DIM] and out[0].encoder == "histogram"
    cam = next(c for c in Scene(scene).cameras() if c.name == "cam1")
    det = read_mot(scene / "det" / "cam1.txt", unique_ids=False)
    with open_source(cam.source) as src:  # type: ignore[arg-type]
        crops = np.stack(
            [
                crop_resize(src.read(int(f)), b, *SIZE)
                for f, b in zip(det.frames, det.boxes, strict=True)
            ]
        )
    with np.load(scene / "features" / "cam1.npz") as z:
        assert np.array_equal(z["f_a"], z["f_s"])
        assert np.allclose(z["f_a"], colour_histograms(crops), atol=1e-6)
        assert str(z["checkpoint"]) == "histogram"
        assert np.array_equal(z["boxes"], det.boxes)


def test_histograms_do_not_depend_on_the_row_order_of_det(scene, tmp_path):
    run_extract_features(scene, FeaturesConfig(model="histogram"))
    before = dict(np.load(scene / "features" / "cam1.npz"))
    copy = tmp_path / "shuffled"
    shutil.copytree(scene, copy, ignore=shutil.ignore_patterns("features", "provenance"))
    det = read_mot(scene / "det" / "cam1.txt", unique_ids=False)
    perm = np.lexsort((np.random.default_rng(3).random(len(det)), det.frames))
    assert (perm != np.arange(len(det))).any()
    write_mot(copy / "det" / "cam1.txt", det.select(perm))
    run_extract_features(copy, FeaturesConfig(model="histogram"), cameras=["cam1"])
    with np.load(copy / "features" / "cam1.npz") as z:
        assert np.array_equal(z["f_a"], before["f_a"][perm])


def test_cli_histogram_needs_no_checkpoint_and_keeps_pooling_rules(scene):
    runner = CliRunner()
    ok = runner.invoke(app, ["extract-features", str(scene), "--model", "histogram"])
    assert ok.exit_code == 0, ok.output
    with pytest.raises(McmotError, match="--pooling cls"):
        cfg = FeaturesConfig(model="histogram", pooling="cls")
        run_extract_features(scene, cfg, overwrite=True)
