"""One camera's DeepSORT fed one timestep at a time, as the ``track`` stage runs it.

The stage's per-frame pieces are reused as they are: :func:`canonical_rows`
orders each frame's detections, :func:`calibrate_config` calibrates the
appearance cue (here on the first ``calibration_seconds``, the warm-up
buffer) and :func:`track_frame` advances the tracker. A frame's track rows
are final once no later frame can add to them: at once, or with
``emit_tentative`` after the ``n_init - 1`` frames in which a tentative
track of it can still be confirmed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from mcmot.motio import MotTable
from mcmot.stages.track import calibrate_config, canonical_rows, track_frame
from mcmot.timebase import DEFAULT_FPS, frames_at_least_one
from mcmot.tracking import Tracker, TrackerConfig
from mcmot.tracking.stride import Between, frame_step, step_frame, stepped, to_steps


@dataclass
class FrameInput:
    """One camera's detections of one frame, as ``det/`` holds them.

    Attributes
    ----------
    det : the frame's det rows, in the det file's order
    track_feats : (n, D) features the tracker reads (rows L2-normalised), or None
    assoc_feats : (n, D) features association reads, or None
    """

    det: MotTable
    track_feats: NDArray[np.float32] | None = None
    assoc_feats: NDArray[np.float32] | None = None


@dataclass
class FrameTracks:
    """One camera's final track rows of one frame, with the detections they came from."""

    frame: int
    tracks: MotTable
    inputs: FrameInput


class CameraTracking:
    """DeepSORT for one camera in a stream (see the module docstring).

    ``cfg`` must hold the frame rate. With an appearance cue to calibrate,
    frames ``1 .. calibrate_until`` are buffered, the tracker is calibrated on
    them and they are replayed; ``calibrate_until`` 0 starts at once. With a
    detector ``stride`` (detections on frames 1, 1 + stride, .. only), the
    tracker steps once per detected frame and the frames between get the
    rows the ``track`` stage writes there (:mod:`mcmot.tracking.stride`), up
    to ``last_frame``.
    """

    def __init__(
        self, cfg: TrackerConfig, calibrate_until: int, stride: int = 1, last_frame: int = 0
    ) -> None:
        self.stride = stride
        self.cfg = stepped(cfg, stride)  # durations in tracker steps, as the stage's
        self.calibrate_until = calibrate_until
        self.tracker: Tracker | None = None
        if not calibrate_until:
            self.tracker = Tracker(self.cfg, frames_per_step=stride)
        n_init = frames_at_least_one(self.cfg.n_init_seconds, self.cfg.fps or DEFAULT_FPS)
        self.delay = (n_init - 1) * stride if cfg.emit_tentative else 0
        self.between = Between(stride, last_frame) if stride > 1 else None
        self.frames: dict[int, FrameInput] = {}  # frames seen, not yet final
        self.canonical: dict[int, tuple[MotTable, NDArray[np.float32] | None]] = {}
        self.found: dict[int, list[tuple[int, int]]] = {}  # frame -> (track id, row)
        self.next_out = 1
        self.seen = 0

    def push(self, frame: int, inputs: FrameInput) -> list[FrameTracks]:
        """Observe ``frame`` (every frame, in order, with or without detections);
        returns the frames whose track rows became final, in order."""
        self.seen = frame
        self.frames[frame] = inputs
        self.canonical[frame] = canonical_rows(inputs.det, inputs.track_feats)
        if self.tracker is None:
            if frame < self.calibrate_until:
                return []
            self._start()
        else:
            self._feed(frame)
        return self._final(frame - self.delay)

    def finish(self) -> list[FrameTracks]:
        """Every frame still held (the end of the stream)."""
        if self.tracker is None:
            self._start()
        return self._final(self.seen)

    def sizes(self) -> dict[str, int]:
        """What the camera holds now: frames buffered, live tracks."""
        live = 0 if self.tracker is None else len(self.tracker.tracks)
        return {"frames": len(self.frames), "tracks": live}

    def _start(self) -> None:
        """Calibrate on the buffered frames, then replay them."""
        dets = [self.canonical[f] for f in sorted(self.canonical)]
        det = MotTable.concat([d for d, _ in dets])
        feats = None if not dets or dets[0][1] is None else np.concatenate([f for _, f in dets])
        if self.stride > 1:
            det = to_steps(det, self.stride)
        self.tracker = Tracker(calibrate_config(self.cfg, det, feats), frames_per_step=self.stride)
        for f in sorted(self.canonical):
            self._feed(f)

    def _feed(self, frame: int) -> None:
        det, feats = self.canonical[frame]
        if not len(det):  # as the stage: a frame without detections is skipped
            return
        assert self.tracker is not None
        step = int(frame_step(frame, self.stride))
        known = [
            (s, tid, (int(step_frame(s, self.stride)), row))
            for s, tid, row in track_frame(self.tracker, step, det, feats)
        ]
        for _, tid, (f, row) in known:
            self.found.setdefault(f, []).append((tid, row))
        if self.between is not None:
            boxes = {key: self.canonical[key[0]][0].boxes[key[1]] for _, _, key in known}
            scores = {key: self.canonical[key[0]][0].scores[key[1]] for _, _, key in known}
            self.between.add(self.tracker, step, known, boxes, scores)

    def _final(self, upto: int) -> list[FrameTracks]:
        out = []
        while self.next_out <= upto:
            f = self.next_out
            det, _ = self.canonical.pop(f)
            rows = [(tid, det.boxes[r], det.scores[r]) for tid, r in self.found.pop(f, [])]
            if self.between is not None:  # a skipped frame's predicted rows
                rows += self.between.pop(f)
            rows.sort(key=lambda row: row[0])
            tracks = MotTable.from_arrays(
                np.full(len(rows), f, np.int64),
                np.array([t for t, _, _ in rows], np.int64),
                np.array([b for _, b, _ in rows], np.float64).reshape(-1, 4),
                np.array([sc for _, _, sc in rows], np.float64),
            )
            out.append(FrameTracks(f, tracks, self.frames.pop(f)))
            self.next_out += 1
        return out
