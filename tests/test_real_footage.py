"""`mcmot run` with its detector defaults on real EPFL multi-camera footage.

Each scene is a short copy of one EPFL folder in ``../shared/data`` (the same
cameras, a few consecutive frames re-encoded as mp4 videos at 360x288), so
that the default inference size and the burned-in watermark of two of the
sequences meet the real pixels within a CI budget. Pretraining gets seconds
of a tiny model: the pipeline's composition is under test here, not its
accuracy (docs/real-footage.md has the full runs).
"""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from pretrain_fixtures import TINY_RUN
from typer.testing import CliRunner

from mcmot.cli import app
from mcmot.detectors import auto_imgsz
from mcmot.motio import read_mot

#: sequence -> first frame copied and the people seen by eye in each camera there (frames
#: 1 and 8 of the copy, counting people cut by the border or half hidden); campus4's
#: frame 601 is one where the detector at 1440 boxed a glyph of the watermark as a person.
SEQUENCES = {
    "epfl-terrace1-clip": (60, {"c0": 6, "c1": 8, "c2": 6, "c3": 6}),
    "epfl-terrace1": (1000, {"c0": 4, "c1": 4}),
    "epfl-campus4": (596, {"c0": 3, "c1": 2, "c2": 3}),
}
FRAMES = 8
#: The converter's watermark in epfl-terrace1 and epfl-campus4 (x1, y1, x2, y2).
WATERMARK = (130.0, 235.0, 355.0, 285.0)


def _short_copy(source: Path, dest: Path, first: int, cameras: list[str]) -> Path:
    """``dest/videos/<cam>.mp4``: frames ``first .. first + FRAMES - 1`` of each camera."""
    (dest / "videos").mkdir(parents=True)
    for cam in cameras:
        cap = cv2.VideoCapture(str(source / "videos" / f"{cam}.mp4"))
        cap.set(cv2.CAP_PROP_POS_FRAMES, first - 1)
        fourcc = cv2.VideoWriter_fourcc(*"mp4v")
        out = cv2.VideoWriter(str(dest / "videos" / f"{cam}.mp4"), fourcc, 25.0, (360, 288))
        for _ in range(FRAMES):
            ok, img = cap.read()
            assert ok, (source, cam)
            out.write(img)
        out.release()
        cap.release()
    return dest


def _inside(boxes: np.ndarray) -> np.ndarray:
    """Fraction of each tlwh box's area inside the watermark."""
    x1, y1, x2, y2 = WATERMARK
    w = np.clip(np.minimum(boxes[:, 0] + boxes[:, 2], x2) - np.maximum(boxes[:, 0], x1), 0, None)
    h = np.clip(np.minimum(boxes[:, 1] + boxes[:, 3], y2) - np.maximum(boxes[:, 1], y1), 0, None)
    return w * h / np.maximum(boxes[:, 2] * boxes[:, 3], 1e-9)


@pytest.mark.slow  # real footage through the default detector: ten seconds a sequence
@pytest.mark.parametrize("sequence", list(SEQUENCES))
def test_run_defaults_on_real_epfl_footage_find_the_people_seen_and_none_in_the_watermark(
    tmp_path, shared_data, sequence
):
    first, seen = SEQUENCES[sequence]
    if not (shared_data / sequence).is_dir():
        pytest.skip(f"{sequence} not in {shared_data}")
    scene = _short_copy(shared_data / sequence, tmp_path / sequence, first, list(seen))
    overrides = {k: v for k, v in TINY_RUN.items() if k != "detect"}  # detector defaults
    conf = tmp_path / "tiny.json"
    conf.write_text(json.dumps(overrides))
    args = ["run", str(scene), "--config", str(conf), "--pretrain-minutes", "0.05"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output

    record = json.loads((scene / "provenance" / "detect.json").read_text())
    assert record["params"]["imgsz"] is None  # the size followed the frames: 704 here
    assert auto_imgsz((360, 288)) == 704
    for cam, people in seen.items():
        det = read_mot(scene / "det" / f"{cam}.txt", unique_ids=False)
        per_frame = len(det) / FRAMES
        # at most one hidden person missed on average, at most one phantom or split box
        assert people - 1.5 <= per_frame <= people + 1, (cam, per_frame, people)
        assert not (_inside(det.boxes) >= 0.5).any(), (cam, det.boxes[_inside(det.boxes) >= 0.5])
        ids = read_mot(scene / "global" / f"{cam}.txt").ids
        assert len(ids) > 0, cam
