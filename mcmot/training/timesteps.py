"""Multi-view timesteps as training samples: a scene's crops and their batches.

A sample is one timestep of one scene: the detections of every view at that
frame, padded to N slots per view. The crops themselves come from
mcmot.stages.pretrain_data (decoded once per camera and cached).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray


class TargetRows(Protocol):
    """Per-crop targets, indexed by crop rows: an (R, M, Dt) array, or
    mcmot.training.targets.LazyTargets (computed when first read)."""

    @property
    def shape(self) -> tuple[int, ...]: ...
    def __getitem__(self, rows: NDArray[np.integer]) -> NDArray: ...


@dataclass(frozen=True)
class SceneCrops:
    """The crops of one scene.

    Attributes
    ----------
    name : the scene's folder name
    cameras : camera names, in view order
    crops : (R, H, W, 3) uint8 BGR crops
    slots : (T, V, N) int32, crop index of detection n of view v at timestep t, -1 = padded
    frames : (T,) int64 frame numbers of the timesteps
    """

    name: str
    cameras: tuple[str, ...]
    crops: NDArray[np.uint8]
    slots: NDArray[np.int32]
    frames: NDArray[np.int64]


@dataclass(frozen=True)
class Batch:
    """A batch of timesteps as arrays (B timesteps, V = the most views in the batch).

    Attributes
    ----------
    crops : (B, V, N, H, W, 3) uint8, zeros in padded slots
    valid : (B, V, N) bool
    teacher : (B, V, N, M, Dt) float32 or None
    """

    crops: NDArray[np.uint8]
    valid: NDArray[np.bool_]
    teacher: NDArray[np.float32] | None


def collate(
    scenes: list[SceneCrops],
    items: list[tuple[int, int]],
    teachers: Sequence[TargetRows] | None,
    normalize_teacher: bool = True,
    shuffle: np.random.Generator | None = None,
) -> Batch:
    """Gather the timesteps ``items = [(scene index, timestep index), ...]`` into a batch.

    With ``normalize_teacher`` each teacher patch feature is standardised
    over its channels (as MaskFeat/data2vec normalise their targets), so the
    SmoothL1 scale does not depend on the teacher.

    With ``shuffle`` every view of every timestep gets its own random order of
    its detections (valid slots stay first). Each detection's slot sets its
    positional embedding, so without it a slot would mean whatever the det
    files' row order means (identity, when they come sorted from ground
    truth), the same in every view: a cross-view shortcut. Training shuffles.
    """
    v = max(scenes[s].slots.shape[1] for s, _ in items)
    n = scenes[items[0][0]].slots.shape[2]
    h, w = scenes[items[0][0]].crops.shape[1:3]
    crops = np.zeros((len(items), v, n, h, w, 3), np.uint8)
    valid = np.zeros((len(items), v, n), bool)
    teach = None
    if teachers is not None:
        m, dt = teachers[items[0][0]].shape[1:]
        teach = np.zeros((len(items), v, n, m, dt), np.float32)
    for b, (s, t) in enumerate(items):
        idx = scenes[s].slots[t]
        if shuffle is not None:
            idx = shuffle_slots(idx, shuffle)
        ok = idx >= 0
        vs = idx.shape[0]
        valid[b, :vs] = ok
        crops[b, :vs][ok] = scenes[s].crops[idx[ok]]
        if teach is not None and teachers is not None:
            teach[b, :vs][ok] = teachers[s][idx[ok]].astype(np.float32)
    if teach is not None and normalize_teacher:
        mu = teach.mean(axis=-1, keepdims=True)
        sd = teach.std(axis=-1, keepdims=True)
        teach = np.where(valid[..., None, None], (teach - mu) / (sd + 1e-6), 0.0).astype(np.float32)
    return Batch(crops, valid, teach)


def shuffle_slots(slots: NDArray[np.int32], rng: np.random.Generator) -> NDArray[np.int32]:
    """Each view's valid slots in a random order of their own.

    Parameters
    ----------
    slots : (V, N) crop indices, -1 = padded, valid slots first
    rng : the random stream

    Returns
    -------
    (V, N) the same indices, each row's valid prefix permuted independently.
    """
    out = slots.copy()
    for v, row in enumerate(slots):
        k = int((row >= 0).sum())
        out[v, :k] = row[:k][rng.permutation(k)]
    return out
