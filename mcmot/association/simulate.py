"""Controlled inputs for tests and benchmarks: tracks made from ground truth.

:func:`tracks_from_gt` turns one camera's ground truth (identities global
across cameras) into what a tracker would write: identities local to the
camera (renumbered at random, so nothing of the global numbering leaks), with
optional fragmentation (a tracklet broken every so often, as after an
occlusion) and identity switches (two people's tracklets swapped from some
frame on). :func:`id_features` makes synthetic view-agnostic features: an
identity embedding plus noise.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from mcmot.motio import MotTable


def tracks_from_gt(
    gt: MotTable,
    rng: np.random.Generator,
    *,
    fragment_every: int = 0,
    switches: int = 0,
    first_id: int = 1,
) -> MotTable:
    """Per-camera tracks from ground truth.

    Parameters
    ----------
    gt : one camera's ground truth
    rng : random generator
    fragment_every : break each tracklet after about this many rows (0 = never)
    switches : number of identity switches to inject
    first_id : the smallest local id

    Returns
    -------
    MotTable with the same rows (sorted by frame, id) and local ids
    """
    t = gt.sorted()
    key = t.ids.copy()
    if fragment_every > 0:
        key = _fragment(t, fragment_every, rng)
    uniq, inv = np.unique(key, return_inverse=True)
    local = rng.permutation(len(uniq))[inv] + first_id
    for _ in range(switches):
        local = _switch(t.frames, local, rng)
    return t.with_ids(local)


def _fragment(t: MotTable, every: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """A new key per piece: each id's rows cut into pieces of random length ~ every."""
    key = np.zeros(len(t), np.int64)
    nxt = 0
    for i in np.unique(t.ids):
        rows = np.flatnonzero(t.ids == i)
        pos = 0
        while pos < len(rows):
            n = int(rng.integers(max(1, every // 2), every + every // 2 + 1))
            key[rows[pos : pos + n]] = nxt
            nxt += 1
            pos += n
    return key


def _switch(
    frames: NDArray[np.int64], ids: NDArray[np.int64], rng: np.random.Generator
) -> NDArray[np.int64]:
    """Swap two ids present in one random frame from that frame on."""
    ids = ids.copy()
    uf = np.unique(frames)
    for _ in range(20):
        f = uf[rng.integers(len(uf))]
        here = np.unique(ids[frames == f])
        if len(here) < 2:
            continue
        a, b = rng.choice(here, 2, replace=False)
        later = frames >= f
        ma, mb = later & (ids == a), later & (ids == b)
        ids[ma], ids[mb] = b, a
        return ids
    return ids


def id_features(
    ids: NDArray[np.int64], dim: int, noise: float, rng: np.random.Generator, *, seed: int = 0
) -> NDArray[np.float32]:
    """(N, dim) L2-normalised features: a fixed random unit vector per identity
    (drawn from ``seed``, shared by every camera) plus Gaussian noise of std
    ``noise`` per component, renormalised."""
    uniq, inv = np.unique(ids, return_inverse=True)
    table = {}
    for u in uniq:
        v = np.random.default_rng([seed, int(u)]).standard_normal(dim)
        table[int(u)] = v / np.linalg.norm(v)
    base = np.stack([table[int(u)] for u in uniq])[inv] if len(uniq) else np.zeros((0, dim))
    f = base + noise * rng.standard_normal((len(ids), dim))
    f /= np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
    return f.astype(np.float32)
