"""The learned tracker: cross-input consistency's two matchers, online, frame by frame.

For every frame, each live track (seen within ``max_age_seconds``) is scored
against each detection twice (mcmot.models.cross_input):

- A, visual: the mean, over the track's detections ``lags`` back, of the
  visual matcher's score between that detection's crop and the candidate's;
- B, spatial: the spatial matcher's score between the track's LSTM state
  and the candidate's box.

Each becomes a transition matrix (``min`` of row and column softmax, with
the matcher's "exited" column); ``M = min(A, B)`` and the Hungarian method on
``1 - M`` assign detections to tracks (with ``min_logit``, never a pair a
deciding matcher scores below it; ``matchers`` may let one half decide alone).
The softmaxes only rank candidates against each other, so with nothing else
a lost track takes whatever detection is left, however far away. With
``max_speed`` (a deviation from the paper, measured in docs/tracking.md) a
track only takes a detection within reach of its last box: centres at most
``REACH_SLACK + max_speed * t`` box sizes apart (a box's longer side, a
standing person's height; the larger of the two boxes'), ``t`` the seconds
since the track's last detection. With ``exit_seconds`` (also a deviation,
measured there) a track missed for longer than that is no longer matched
across the frame's border: last seen touching it, it has left the view and
takes no detection; a detection touching it is someone entering. The
learned "exited" column alone let lost tracks take newcomers at the edge.
A matched track takes the detection's crop and steps its LSTM with the box;
every other track steps it with an unseen input; every detection left starts
a track. Every matched or new detection is written, as in the paper; with
``n_init_seconds`` (DeepSORT's confirmation, an option measured in
docs/tracking.md) a new track is written only from the frame in which it has
been matched in that many seconds of consecutive frames, and a track missed
before then is dropped.
The detections' crop features come with them (``Detections.features``: the
CNN's output, mcmot.stages.track computes them from the video).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.boxes import near_border, tlwh_to_xyah, unit_boxes
from mcmot.models.cross_input import CrossInputNet, State, min_softmax
from mcmot.timebase import DEFAULT_FPS, frames_at_least_one, frames_rounded
from mcmot.tracking.config import LearnedConfig
from mcmot.tracking.matching import min_cost_matching

if TYPE_CHECKING:
    from mcmot.tracking.tracker import Detections

#: Cost of a refused pair (above any ``1 - M``).
REFUSED = 2.0
#: A detection this many box sizes from a track's last box is always within reach
#: (box jitter, and a step between two frames at low frame rates).
REACH_SLACK = 0.5
#: A box this close to the frame's border, as a share of the image's shorter side,
#: touches it (detectors stop a few pixels short of the edge).
BORDER_MARGIN = 0.03


def within_reach(
    last: NDArray[np.float64],
    seconds: NDArray[np.float64],
    boxes: NDArray[np.float64],
    speed: float,
) -> NDArray[np.bool_]:
    """(T, D) True where a detection is within reach of a track: the centres at most
    ``REACH_SLACK + speed * seconds`` box sizes apart, a box's size being its longer
    side (a person's height; the width of a person cut by the frame's lower edge)
    and the larger of the two boxes' counting.

    Parameters
    ----------
    last : (T, 4) tlwh, each track's last box
    seconds : (T,) seconds since each track's last detection
    boxes : (D, 4) tlwh, the detections
    speed : the farthest a person moves in a second, in box sizes
    """
    centres, cand = tlwh_to_xyah(last)[:, :2], tlwh_to_xyah(boxes)[:, :2]
    dist = np.linalg.norm(centres[:, None] - cand[None], axis=2)
    size = np.maximum(last[:, 2:].max(1)[:, None], boxes[:, 2:].max(1)[None, :])
    return dist <= (REACH_SLACK + speed * seconds)[:, None] * size


def at_border(tlwh: NDArray[np.float64], size: tuple[int, int]) -> NDArray[np.bool_]:
    """(N,) whether each box (N, 4) tlwh touches the border of a ``size`` (width,
    height) frame, within :data:`BORDER_MARGIN` of its shorter side."""
    return near_border(tlwh, size, BORDER_MARGIN * min(size))


def _stacked(tracks: list[LearnedTrack]) -> State:
    """The spatial state of ``tracks``, stacked."""
    h, c, last = (torch.stack([t.state[k] for t in tracks]) for k in range(3))
    return h, c, last


@dataclass
class LearnedTrack:
    """A track: its id, last box, crop features (latest last), LSTM state, last frame seen."""

    track_id: int
    tlwh: NDArray[np.float64]
    crops: list[torch.Tensor]
    state: tuple[torch.Tensor, ...]
    last_seen: int
    hits: int = field(default=1)


class LearnedTracker:
    """The learned tracker over the frames of one camera.

    The same interface as :class:`mcmot.tracking.Tracker`: ``update`` once per
    frame with that frame's :class:`~mcmot.tracking.Detections` (features = crop
    features), ``skip`` over frames without any.

    Parameters
    ----------
    cfg : the settings
    net : the trained matchers (eval mode is set here)
    size : the camera's frame (width, height)
    """

    def __init__(self, cfg: LearnedConfig, net: CrossInputNet, size: tuple[int, int]) -> None:
        self.cfg = cfg
        self.net = net.eval()
        self.size = size
        self.fps = cfg.fps or DEFAULT_FPS
        self.max_age = frames_rounded(cfg.max_age_seconds, self.fps)
        self.n_init = frames_at_least_one(cfg.n_init_seconds, self.fps)
        self.history = max(cfg.lags)
        self.tracks: list[LearnedTrack] = []
        self.frame_count = 0
        self._next_id = 1

    @torch.no_grad()
    def scores(
        self, tracks: list[LearnedTrack], crops: torch.Tensor, boxes: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(T, D) visual and spatial scores of ``tracks`` against the candidates."""
        past, owner = [], []
        for i, t in enumerate(tracks):
            for lag in sorted({min(k, len(t.crops)) for k in self.cfg.lags}):
                past.append(t.crops[-lag])
                owner.append(i)
        vis = self.net.visual_logits(torch.stack(past), crops)
        index = torch.tensor(owner)
        total = torch.zeros((len(tracks), crops.shape[0])).index_add_(0, index, vis)
        counts = torch.bincount(index, minlength=len(tracks)).clamp(min=1)
        return total / counts[:, None], self.net.spatial_logits(_stacked(tracks), boxes)

    def assign(
        self, vis: torch.Tensor, spa: torch.Tensor, reach: NDArray[np.bool_] | None = None
    ) -> list[tuple[int, int]]:
        """(track, detection) pairs from the two score matrices (see the module docstring);
        ``reach``, (T, D), False where a pair is out of reach."""
        a = min_softmax(self.net.with_exit(vis, True))[:, :-1]
        b = min_softmax(self.net.with_exit(spa, False))[:, :-1]
        use = self.cfg.matchers
        m = a if use == "visual" else b if use == "spatial" else torch.minimum(a, b)
        cost = (1.0 - m).numpy().astype(np.float64)
        if self.cfg.min_logit is not None:
            low_a, low_b = vis < self.cfg.min_logit, spa < self.cfg.min_logit
            low = low_a if use == "visual" else low_b if use == "spatial" else low_a | low_b
            cost[low.numpy()] = REFUSED
        if reach is not None:
            cost[~reach] = REFUSED
        return min_cost_matching(cost, 1.0)[0]

    def reach(self, tlwh: NDArray[np.float64]) -> NDArray[np.bool_] | None:
        """(T, D) which detections each live track may take: within reach
        (``max_speed``) and not across the border (``exit_seconds``); None when
        neither limit is on."""
        speed, exit_after = self.cfg.max_speed, self.cfg.exit_seconds
        if not (speed or exit_after):
            return None
        last = np.stack([t.tlwh for t in self.tracks])
        seconds = np.array([self.frame_count - t.last_seen for t in self.tracks]) / self.fps
        if speed:
            allowed = within_reach(last, seconds, tlwh, speed)
        else:
            allowed = np.ones((len(last), len(tlwh)), bool)
        if exit_after:
            lost = seconds > exit_after
            allowed[lost & at_border(last, self.size)] = False  # it left through the border
            allowed[np.outer(lost, at_border(tlwh, self.size))] = False  # someone entering
        return allowed

    @torch.no_grad()
    def update(self, detections: Detections) -> list[tuple[int, NDArray[np.float64], int]]:
        """Advance one frame; one ``(track_id, tlwh, det_index)`` per detection kept, by id."""
        self.frame_count += 1
        keep = np.flatnonzero(np.asarray(detections.scores) >= self.cfg.min_confidence)
        tlwh = np.asarray(detections.tlwh, np.float64).reshape(-1, 4)[keep]
        raw = detections.features
        if raw is None:
            raise ValueError("the learned tracker needs each detection's crop features")
        crops = torch.as_tensor(np.asarray(raw, np.float32)[keep])
        boxes = torch.from_numpy(unit_boxes(tlwh, self.size))
        pairs: list[tuple[int, int]] = []
        if self.tracks and len(keep):
            pairs = self.assign(*self.scores(self.tracks, crops, boxes), self.reach(tlwh))
        self._step_all(pairs, crops, boxes, tlwh)
        taken = {d for _, d in pairs}
        confirmed = [(t, d) for t, d in pairs if self.tracks[t].hits >= self.n_init]
        out = [(self.tracks[t].track_id, tlwh[d], int(keep[d])) for t, d in confirmed]
        self._drop_old()  # before the new tracks: a tentative track missed now is gone
        new = [d for d in range(len(keep)) if d not in taken]
        state = self.net.spatial_start(boxes[new]) if new else ()
        for i, d in enumerate(new):  # every new track's LSTM starts in one batch
            track = LearnedTrack(
                self._next_id, tlwh[d], [crops[d]], tuple(x[i] for x in state), self.frame_count
            )
            self._next_id += 1
            self.tracks.append(track)
            if self.n_init <= 1:
                out.append((track.track_id, tlwh[d], int(keep[d])))
        return sorted(out, key=lambda row: row[0])

    def _step_all(
        self,
        pairs: list[tuple[int, int]],
        crops: torch.Tensor,
        boxes: torch.Tensor,
        tlwh: NDArray[np.float64],
    ) -> None:
        """Every track's LSTM steps one frame: matched ones with their detection's box."""
        if not self.tracks:
            return
        inputs = torch.zeros((len(self.tracks), 4))
        seen = torch.zeros(len(self.tracks))
        for t, d in pairs:
            inputs[t], seen[t] = boxes[d], 1.0
            track = self.tracks[t]
            track.crops = (
                [*track.crops[-(self.history - 1) :], crops[d]] if self.history > 1 else [crops[d]]
            )
            track.tlwh, track.last_seen, track.hits = tlwh[d], self.frame_count, track.hits + 1
        state = self.net.spatial_step(_stacked(self.tracks), inputs, seen)
        for i, t in enumerate(self.tracks):
            t.state = tuple(x[i] for x in state)

    def _drop_old(self) -> None:
        """Drop the tracks lost longer than ``max_age`` and the tentative ones missed."""
        self.tracks = [
            t
            for t in self.tracks
            if self.frame_count - t.last_seen <= (self.max_age if t.hits >= self.n_init else 0)
        ]

    @torch.no_grad()
    def skip(self, frames: int) -> None:
        """Advance over ``frames`` frames without detections (tracks age and their LSTM
        steps unseen; at most ``max_age + 1`` steps, after which every track is gone)."""
        for _ in range(min(max(frames, 0), self.max_age + 1)):
            self.frame_count += 1
            self._step_all([], torch.zeros((0, 1)), torch.zeros((0, 4)), np.zeros((0, 4)))
            self._drop_old()
        self.frame_count += max(frames - (self.max_age + 1), 0)

    def pop_recovered(self) -> list:
        """Nothing: a tentative track's detections are never written later."""
        return []
