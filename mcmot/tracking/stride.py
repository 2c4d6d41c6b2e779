"""Tracking detections of every k-th frame (``mcmot detect --stride k``).

The tracker steps once per detected frame, at the detector's rate (its
durations converted at ``fps / k``, its filter predicting k frames per step;
below 7 steps per second its default motion cost is the Mahalanobis
distance, as for any sparse footage). The ``k - 1`` frames between two
detected frames get rows too, online: a track updated at a detected frame
carries its detection's box over the frames that follow, moved as its Kalman
filter predicts its box to move (constant velocity, a fraction of a step per
frame). Moving the detection's box, rather than writing the filter's box,
was chosen on synthetic development scenes with detector boxes (HOTA +0.03
to +0.04 at stride 3, docs/detect.md). The rows of a track's tentative
frames, handed out once it is confirmed, are joined to its next row by a
straight line, since both ends are known then.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from mcmot.errors import McmotError
from mcmot.motio import MotTable
from mcmot.timebase import DEFAULT_FPS

if TYPE_CHECKING:
    from mcmot.tracking.tracker import Tracker

FloatArray = NDArray[np.float64]


def on_stride(frames: NDArray[np.int64] | int, stride: int) -> NDArray[np.bool_] | bool:
    """Whether the 1-based ``frames`` are ones a detector with ``stride`` runs on:
    1, 1 + stride, 1 + 2 stride, ..."""
    return (np.asarray(frames) - 1) % stride == 0


def frame_step(frames: NDArray[np.int64] | int, stride: int) -> NDArray[np.int64] | int:
    """The tracker step of frame(s) ``frames`` (the inverse of :func:`step_frame`);
    for a frame the stride skips, the step before it, so also the number of steps
    at or before ``frames`` (0 for frame 0)."""
    return (frames - 1) // stride + 1


def stepped(cfg: Any, stride: int) -> Any:
    """A tracker's settings with the rate of its steps (``fps / stride``), so its
    durations convert to steps; ``cfg`` itself for a stride of 1."""
    if stride == 1:
        return cfg
    return dataclasses.replace(cfg, fps=(cfg.fps or DEFAULT_FPS) / stride)


def to_steps(det: MotTable, stride: int, name: str = "det") -> MotTable:
    """``det`` with frames ``1, 1 + stride, ..`` renumbered as steps ``1, 2, ..``.

    A row on another frame is an error naming it: the file was not written with
    this stride.
    """
    off = ~on_stride(det.frames, stride)
    if off.any():
        frame = int(det.frames[np.argmax(off)])
        raise McmotError(
            f"{name}: a row at frame {frame}, but detect ran on every {stride}th frame "
            f"(1, {1 + stride}, ..): run `mcmot detect` again"
        )
    return MotTable(frame_step(det.frames, stride), det.ids, det.boxes, det.scores, det.extra)


def step_frame(steps: NDArray[np.int64] | int, stride: int) -> NDArray[np.int64] | int:
    """The frame number of tracker step(s) ``steps``."""
    return (steps - 1) * stride + 1


@dataclass
class Between:
    """The rows of the frames a stride skips, collected step by step.

    Parameters
    ----------
    stride : frames per tracker step
    last_frame : no row beyond this frame
    """

    stride: int
    last_frame: int
    rows: dict[int, list[tuple[int, FloatArray, float]]] = field(default_factory=dict)

    def add(
        self,
        tracker: Tracker,
        step: int,
        known: list[tuple[int, int, Any]],
        boxes: Any,
        scores: Any,
    ) -> None:
        """The skipped frames after tracker step ``step``.

        Parameters
        ----------
        tracker : the tracker, just after its update of ``step``
        step : the step
        known : what the step made known: ``(step, track id, key)``; rows of
            earlier steps are tentative rows handed out at confirmation
        boxes, scores : ``boxes[key]`` the (4,) tlwh box and ``scores[key]`` the
            score of the detection row ``key`` (a skipped frame gets its row's
            box, moved, and score)
        """
        now = [(tid, key) for s, tid, key in known if s == step]
        ids = [tid for tid, _ in now]
        frame = int(step_frame(step, self.stride))
        start = tracker.predicted_boxes(ids, 0.0)
        for j in range(1, self.stride):
            if frame + j > self.last_frame or not now:
                break
            moved = tracker.predicted_boxes(ids, j / self.stride) - start
            for (tid, key), shift in zip(now, moved, strict=True):
                self._row(frame + j, tid, boxes[key] + shift, scores[key])
        self._join_recovered(known, boxes, scores)

    def _join_recovered(self, known: list[tuple[int, int, Any]], boxes: Any, scores: Any) -> None:
        """Straight lines between a newly confirmed track's consecutive rows."""
        by_track: dict[int, list[tuple[int, Any]]] = {}
        for s, tid, key in known:
            by_track.setdefault(tid, []).append((s, key))
        for tid, rows in by_track.items():
            rows.sort(key=lambda r: r[0])
            for (s0, k0), (s1, k1) in zip(rows, rows[1:], strict=False):
                if s1 != s0 + 1:
                    continue
                a, b = np.asarray(boxes[k0], np.float64), np.asarray(boxes[k1], np.float64)
                f0 = int(step_frame(s0, self.stride))
                for j in range(1, self.stride):
                    self._row(f0 + j, tid, a + (b - a) * (j / self.stride), scores[k0])

    def _row(self, frame: int, tid: int, box: FloatArray, score: float) -> None:
        self.rows.setdefault(frame, []).append((tid, np.asarray(box, np.float64), float(score)))

    def pop(self, frame: int) -> list[tuple[int, FloatArray, float]]:
        """The rows of ``frame`` collected so far, ``(track id, tlwh, score)``, forgotten."""
        return self.rows.pop(frame, [])

    def merged(self, steps: MotTable) -> MotTable:
        """A tracker's rows numbered by step, at their frames, with every row collected
        here: the rows of every frame, sorted by (frame, id)."""
        at_frames = MotTable(
            np.asarray(step_frame(steps.frames, self.stride), np.int64),
            steps.ids,
            steps.boxes,
            steps.scores,
            steps.extra,
        )
        return MotTable.concat([at_frames, self.table()]).sorted()

    def table(self) -> MotTable:
        """Every row collected (any order)."""
        rows = [(f, *r) for f, rs in self.rows.items() for r in rs]
        if not rows:
            return MotTable.empty()
        return MotTable.from_arrays(
            np.array([r[0] for r in rows], np.int64),
            np.array([r[1] for r in rows], np.int64),
            np.stack([r[2] for r in rows]),
            np.array([r[3] for r in rows], np.float64),
        )
