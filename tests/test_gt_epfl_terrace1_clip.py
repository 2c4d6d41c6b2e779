"""The committed ground truth of epfl-terrace1-clip is well-formed.

benchmarks/data/epfl-terrace1-clip/gt/ holds hand-checked boxes for the four
views of ../shared/data/epfl-terrace1-clip (README beside the gt says how they
were made). These checks are cheap: they read the text files and, when the
videos are there, their frame sizes.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np
import pytest

from mcmot.motio import MotTable, read_truth

GT = Path(__file__).resolve().parents[1] / "benchmarks" / "data" / "epfl-terrace1-clip" / "gt"
CAMERAS = ("c0", "c1", "c2", "c3")
N_FRAMES = 125
WIDTH, HEIGHT = 360, 288


def load() -> dict[str, MotTable]:
    out = {}
    for cam in CAMERAS:
        table, repeats = read_truth(GT / f"{cam}.txt")
        assert not repeats, f"{cam}: an id twice on one frame: {repeats[:3]}"
        out[cam] = table
    return out


def test_every_view_loads_with_mcmots_reader_as_ground_truth_rows() -> None:
    tables = load()
    for cam, t in tables.items():
        assert len(t) > 500, cam
        assert np.all(t.ids >= 1), f"{cam}: ids start at 1"
        assert np.all(t.scores == 1), f"{cam}: column 7 is 1 on every row"
        assert np.all(t.extra == -1), f"{cam}: columns 8-10 are -1"
        assert np.all((t.boxes[:, 2] > 0) & (t.boxes[:, 3] > 0)), f"{cam}: empty box"


def test_every_view_has_boxes_on_all_125_frames_and_no_frame_beyond() -> None:
    for cam, t in load().items():
        frames = set(t.frames.tolist())
        assert frames == set(range(1, N_FRAMES + 1)), (
            f"{cam}: frames without boxes {sorted(set(range(1, N_FRAMES + 1)) - frames)[:10]}, "
            f"beyond the clip {sorted(frames - set(range(1, N_FRAMES + 1)))[:10]}"
        )


def test_ids_are_global_every_person_is_seen_in_at_least_two_views() -> None:
    views: dict[int, set[str]] = defaultdict(set)
    for cam, t in load().items():
        for ident in np.unique(t.ids):
            views[int(ident)].add(cam)
    assert 7 <= len(views) <= 9, f"the clip shows 7-9 people, gt has {len(views)} ids"
    in_all = [i for i, v in views.items() if len(v) == len(CAMERAS)]
    assert len(in_all) >= 6, f"ids seen in all four views: {in_all}"
    assert all(len(v) >= 2 for v in views.values()), dict(views)


def test_an_id_moves_at_most_a_walking_step_between_consecutive_frames() -> None:
    # a swapped id jumps across the image; walking people move a few pixels per frame
    for cam, t in load().items():
        for ident in np.unique(t.ids):
            mine = t.select(t.ids == ident)
            order = np.argsort(mine.frames)
            f, b = mine.frames[order], mine.boxes[order]
            centre_x = b[:, 0] + b[:, 2] / 2
            step = np.abs(np.diff(centre_x))[np.diff(f) == 1]
            assert step.size == 0 or step.max() < 40, (
                f"{cam} id {ident}: centre jumps {step.max():.0f} px in one frame"
            )


def test_boxes_lie_inside_the_frames_of_the_videos(shared_data: Path) -> None:
    videos = shared_data / "epfl-terrace1-clip" / "videos"
    if not videos.is_dir():
        pytest.skip(f"{videos} not found")
    for cam, t in load().items():
        cap = cv2.VideoCapture(str(videos / f"{cam}.mp4"))
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
        assert size == (WIDTH, HEIGHT), f"{cam}: video is {size}"
        x, y, w, h = t.boxes.T
        inside = (x >= 0) & (y >= 0) & (x + w <= WIDTH + 0.01) & (y + h <= HEIGHT + 0.01)
        assert inside.all(), (
            f"{cam}: boxes outside the frame, e.g. rows {np.flatnonzero(~inside)[:5]}"
        )
