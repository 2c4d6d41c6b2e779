"""Cross-input consistency as a trainer objective: sequences, the spatial mask, distractors.

A sample is a frame that can start a sequence (:class:`CameraDets`: one
camera's kept detections, their boxes and crops). Each step draws, from the
step's own generator (so a resumed run continues exactly), a length ``n`` and
a stride for every sample of the batch, takes the frames
``f_0, f_0 + s, ..., f_0 + n s``, builds the spatial mask C by flood fill
over every frame between ``f_0`` and ``f_n`` (:func:`flood_fill`) and adds
one artificial detection per real one of ``f_n``: its box with the crop of a
detection from a distant part of the footage. The model's loss is
mcmot.models.cross_input's. The step log holds ``consistency`` (the loss),
``row_max`` (mean row maximum of ``min(A, B)`` on the last frame: near
``1 / (D_n + 1)`` means the matchers learned nothing), ``exited`` (mean mass
on the exited column), ``artificial`` (mean mass on the artificial
detections: it falls towards 0 as the visual matcher learns) and
``exit_only`` (share of tracks whose C allows only "exited": near 1, the
sequences are too long for the footage).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.boxes import iou_matrix, unit_boxes
from mcmot.models.checkpoint import CROSS_INPUT, build_cross_input
from mcmot.models.cross_input import Sequence
from mcmot.models.cross_input_config import CrossInputConfig
from mcmot.training.distributed import Dist
from mcmot.training.objective import NothingToPrepare, autocast

#: Tags the random stream of the sequences' lengths, strides and distractors.
SEQUENCE_STREAM = 3


@dataclass(frozen=True)
class CameraDets:
    """One camera's kept detections, in frame order.

    Attributes
    ----------
    name : "scene/camera", for messages and the cache
    size : the frame's (width, height)
    frames : (N,) frame of each detection, sorted
    boxes : (N, 4) tlwh boxes in pixels
    crops : (N, S, S, 3) uint8 crops
    """

    name: str
    size: tuple[int, int]
    frames: NDArray[np.int64]
    boxes: NDArray[np.float64]
    crops: NDArray[np.uint8]

    def rows(self, frame: int) -> slice:
        """The rows of ``frame``."""
        lo, hi = np.searchsorted(self.frames, [frame, frame + 1])
        return slice(int(lo), int(hi))

    def count(self, frame: int) -> int:
        sl = self.rows(frame)
        return sl.stop - sl.start

    def unit_boxes(self, sl: slice) -> NDArray[np.float32]:
        """(k, 4) boxes of rows ``sl`` as (cx, cy, w, h) over the frame size."""
        return unit_boxes(self.boxes[sl], self.size)


def flood_fill(
    frames: NDArray[np.int64],
    boxes: NDArray[np.float64],
    first: int,
    last: int,
    reach: int,
    pad: float,
    min_iou: float,
) -> NDArray[np.bool_]:
    """The spatial mask C: which detections of ``last`` each detection of ``first`` may be.

    Detection ``i`` of frame ``first`` carries the label {i}; a detection of a
    later frame ``f`` carries the union of the labels of the detections of
    frames ``f - reach .. f - 1`` whose boxes (padded by ``pad`` pixels on
    every side) meet it at IoU ``min_iou`` or more.

    Parameters
    ----------
    frames, boxes : (N,) sorted frames and (N, 4) tlwh boxes of one camera
    first, last : the sequence's first and last frame

    Returns
    -------
    (D_first, D_last) bool
    """
    lo, hi = np.searchsorted(frames, [first, last + 1])
    fr, bx = frames[lo:hi], np.asarray(boxes[lo:hi], np.float64).copy()
    bx[:, :2] -= pad
    bx[:, 2:] += 2 * pad
    n0 = int((fr == first).sum())
    labels = np.zeros((len(fr), n0), bool)
    labels[np.arange(n0), np.arange(n0)] = True
    for f in np.unique(fr[fr > first]):
        cur = np.flatnonzero(fr == f)
        prev = np.flatnonzero((fr >= f - reach) & (fr < f))
        if len(prev):
            touch = iou_matrix(bx[cur], bx[prev]) >= min_iou
            labels[cur] = (touch[:, :, None] & labels[prev][None]).any(axis=1)
    return labels[fr == last].T


def sequence_frames(
    cam: CameraDets, start: int, cfg: CrossInputConfig, rng: np.random.Generator
) -> list[int]:
    """The frames of one sequence from ``start``: a drawn length and stride whose last
    frame holds ``cfg.min_dets`` detections (the longest such when the drawn one does not)."""
    n, skip = int(rng.integers(cfg.n_min, cfg.n_max + 1)), int(rng.choice(cfg.skips))
    for length in range(n, cfg.n_min - 1, -1):
        if cam.count(start + length * skip) >= cfg.min_dets:
            return [start + k * skip for k in range(length + 1)]
    for s in cfg.skips:
        for length in range(cfg.n_max, cfg.n_min - 1, -1):
            if cam.count(start + length * s) >= cfg.min_dets:
                return [start + k * s for k in range(length + 1)]
    raise ValueError(f"{cam.name}: frame {start} starts no sequence")


def can_start(cam: CameraDets, frame: int, cfg: CrossInputConfig) -> bool:
    """Whether a sequence can start at ``frame``."""
    if cam.count(frame) < cfg.min_dets:
        return False
    return any(
        cam.count(frame + n * s) >= cfg.min_dets
        for s in cfg.skips
        for n in range(cfg.n_min, cfg.n_max + 1)
    )


def distant_rows(
    cams: list[CameraDets], cam: int, span: tuple[int, int], count: int, rng: np.random.Generator
) -> list[tuple[int, int]]:
    """``count`` (camera, row) pairs drawn from detections far from camera ``cam``'s frames
    ``span`` (another camera, or frames at least the span's length away); fewer when the
    footage has none."""
    far = span[1] - span[0] + 1
    pool = []
    for c, dets in enumerate(cams):
        ok = np.ones(len(dets.frames), bool)
        if c == cam:
            ok = (dets.frames < span[0] - far) | (dets.frames > span[1] + far)
        pool.append(np.flatnonzero(ok))
    sizes = np.array([len(p) for p in pool])
    if sizes.sum() == 0 or count == 0:
        return []
    picks = rng.choice(int(sizes.sum()), size=count, replace=sizes.sum() < count)
    edges = np.cumsum(sizes)
    out = []
    for p in picks:
        c = int(np.searchsorted(edges, p, side="right"))
        out.append((c, int(pool[c][p - (edges[c] - sizes[c])])))
    return out


class CrossInputObjective(NothingToPrepare):
    """Cross-input consistency over the detections of some cameras.

    Parameters
    ----------
    cfg : the run's settings
    cams : every camera's kept detections
    dd : this process's place in the run
    device : where the sequences go
    """

    kind = CROSS_INPUT

    def __init__(
        self, cfg: CrossInputConfig, cams: list[CameraDets], dd: Dist, device: torch.device
    ) -> None:
        self.cfg = cfg
        self.cams = cams
        self.dd = dd
        self.device = device
        self.starts = [
            (c, int(f))
            for c, cam in enumerate(cams)
            for f in np.unique(cam.frames)
            if can_start(cam, int(f), cfg)
        ]

    @property
    def settings(self) -> CrossInputConfig:
        return self.cfg

    @property
    def num_samples(self) -> int:
        return len(self.starts)

    def build_model(self, weights: dict[str, torch.Tensor] | None) -> torch.nn.Module:
        return build_cross_input(self.cfg, weights)

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"cameras": [c.name for c in self.cams]}

    def sequence(self, sample: int, rng: np.random.Generator) -> Sequence:
        """The sequence that starts at sample ``sample``, with its mask and distractors."""
        c, start = self.starts[sample]
        cam = self.cams[c]
        frames = sequence_frames(cam, start, self.cfg, rng)
        slices = [cam.rows(f) for f in frames]
        mask = flood_fill(
            cam.frames,
            cam.boxes,
            frames[0],
            frames[-1],
            self.cfg.flood_frames,
            self.cfg.flood_pad,
            self.cfg.flood_iou,
        )
        d_n = slices[-1].stop - slices[-1].start
        picks = distant_rows(
            self.cams, c, (frames[0], frames[-1]), d_n if self.cfg.distractors else 0, rng
        )
        crop = self.cfg.crop
        distract = np.zeros((len(picks), crop, crop, 3), np.uint8)
        for k, (pc, row) in enumerate(picks):
            distract[k] = self.cams[pc].crops[row]

        def t(a: NDArray) -> torch.Tensor:
            return torch.from_numpy(np.ascontiguousarray(a)).to(self.device)

        return Sequence(
            crops=[t(cam.crops[sl]) for sl in slices],
            boxes=[t(cam.unit_boxes(sl)) for sl in slices],
            distract=t(distract),
            mask=t(mask),
        )

    def loss(
        self, model: torch.nn.Module, step: int, samples: NDArray[np.int64]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rng = np.random.default_rng([self.cfg.seed, step, self.dd.rank, SEQUENCE_STREAM])
        seqs = [self.sequence(int(s), rng) for s in samples]
        with autocast(self.device, self.cfg.amp):
            loss, terms = model(seqs)
        return loss, {"consistency": loss.detach(), **terms}
