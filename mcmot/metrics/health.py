"""Label-free health of a scene's cross-camera identities.

With no ground truth, a result can still be judged by what it claims: how
many identities it made, how many of them it saw in more than one camera,
and whether identities keep being created while the number of people in view
stays the same (fragments that were never joined). These figures come from
``global/`` alone (no labels, no pixels).

- :func:`identity_health` the figures of a whole scene, with
  :class:`TimeBin` rows over time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from mcmot.motio import MotTable


@dataclass(frozen=True)
class TimeBin:
    """Identities within frames ``start..end`` (inclusive), all cameras together.

    Attributes
    ----------
    start, end : first and last frame of the bin
    in_view : the most distinct identities seen in any one frame of the bin,
        all cameras together (a lower bound on the people present when
        identities are linked across cameras; their sum over cameras when not)
    in_one_camera : the most identities one camera sees in one frame of the bin
    active : distinct identities seen in the bin
    new : identities seen for the first time in the bin
    """

    start: int
    end: int
    in_view: int
    in_one_camera: int
    active: int
    new: int


@dataclass(frozen=True)
class IdentityHealth:
    """What a scene's ``global/`` says of its identities.

    Attributes
    ----------
    identities : distinct global identities
    by_cameras : ``by_cameras[k]`` identities seen by exactly k + 1 cameras
    multi_camera : share of identities seen by more than one camera
    multi_camera_rows : share of rows that belong to such identities (long
        identities weigh more than short fragments)
    per_camera : distinct identities each camera shows
    max_in_view : the most distinct identities seen in any one frame
    max_in_one_camera : the most identities one camera sees in one frame (a
        lower bound on the people in the scene)
    bins : the identities over time, one :class:`TimeBin` per ``bin_frames``
    """

    identities: int
    by_cameras: tuple[int, ...]
    multi_camera: float
    multi_camera_rows: float
    per_camera: dict[str, int]
    max_in_view: int
    max_in_one_camera: int
    bins: tuple[TimeBin, ...]

    @property
    def per_person(self) -> float:
        """Identities per person at the busiest camera and frame (1 when
        every person kept one identity and everyone was once seen together)."""
        return self.identities / self.max_in_one_camera if self.max_in_one_camera else 0.0


def _most_per_bin(
    keys: np.ndarray, bins: np.ndarray, groups: np.ndarray, ids: np.ndarray
) -> np.ndarray:
    """(len(keys),) the most distinct ``ids`` in one group (a frame, or a frame
    of one camera) of each bin ``keys``; ``bins`` and ``groups`` are per row."""
    distinct = np.unique(np.stack([bins, groups, ids], axis=1), axis=0)
    cells, counts = np.unique(distinct[:, :2], axis=0, return_counts=True)
    most = np.zeros(len(keys), np.int64)
    np.maximum.at(most, np.searchsorted(keys, cells[:, 0]), counts)
    return most


def identity_health(tables: Mapping[str, MotTable], bin_frames: int) -> IdentityHealth:
    """The label-free figures of ``tables`` (camera name -> ``global/`` rows).

    ``bin_frames`` is the length of one :class:`TimeBin` in frames (>= 1);
    bins start at frame 1 and end at the last frame with a row; a bin with no
    row is left out.
    """
    if bin_frames < 1:
        raise ValueError(f"bin_frames must be >= 1, got {bin_frames}")
    names = list(tables)
    empty = np.zeros(0, np.int64)
    frames = np.concatenate([empty, *(tables[c].frames for c in names)])
    ids = np.concatenate([empty, *(tables[c].ids for c in names)])
    cams = np.concatenate([empty, *(np.full(len(tables[c]), k) for k, c in enumerate(names))])
    per_camera = {c: len(np.unique(tables[c].ids)) for c in names}
    if len(ids) == 0:
        return IdentityHealth(0, (), 0.0, 0.0, per_camera, 0, 0, ())
    uid, inverse = np.unique(ids, return_inverse=True)
    seen = np.unique(np.stack([inverse, cams], axis=1), axis=0)
    ncams = np.bincount(seen[:, 0], minlength=len(uid))
    multi = ncams > 1
    by_cameras = tuple(int(n) for n in np.bincount(ncams)[1:])
    first = np.full(len(uid), np.iinfo(np.int64).max)
    np.minimum.at(first, inverse, frames)
    lo = 1  # bins start at the recording's first frame
    row_bin = (frames - lo) // bin_frames
    last = int(frames.max())
    keys, active = np.unique(
        np.unique(np.stack([row_bin, inverse], axis=1), axis=0)[:, 0], return_counts=True
    )
    in_view = _most_per_bin(keys, row_bin, frames, inverse)
    # one group per (frame, camera): frames * cameras + camera is unique
    in_one = _most_per_bin(keys, row_bin, frames * len(names) + cams, inverse)
    new = np.bincount(np.searchsorted(keys, (first - lo) // bin_frames), minlength=len(keys))
    bins = tuple(
        TimeBin(int(start), min(int(start) + bin_frames - 1, last), int(v), int(o), int(a), int(n))
        for start, v, o, a, n in zip(
            lo + keys * bin_frames, in_view, in_one, active, new, strict=True
        )
    )
    return IdentityHealth(
        identities=len(uid),
        by_cameras=by_cameras,
        multi_camera=float(multi.mean()),
        multi_camera_rows=float(multi[inverse].mean()),
        per_camera=per_camera,
        max_in_view=int(in_view.max()),
        max_in_one_camera=int(in_one.max()),
        bins=bins,
    )
