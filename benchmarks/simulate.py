"""Tracks made from ground truth, for tests and benchmarks (not part of the package).

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


def ground_to_image(H: NDArray[np.float64], xy: NDArray[np.float64]) -> NDArray[np.float64]:
    """(N, 2) ground points (metres) -> (N, 2) image points through (3, 3) ``H``."""
    p = xy @ H[:, :2].T + H[:, 2]
    return p[:, :2] / p[:, 2:3]


def toy_scene(
    cams: list[NDArray[np.float64]],
    *,
    people: int,
    frames: int,
    size: tuple[int, int] = (640, 480),
    area: float = 10.0,
    speed: float = 0.08,
    rng: np.random.Generator,
) -> list[MotTable]:
    """Ground truth of people walking on a floor seen by cameras with known homographies.

    Parameters
    ----------
    cams : per camera, (3, 3) homography from the floor (metres) to its image
    people : number of people; frames : number of frames
    size : image (width, height); boxes leaving the image are dropped
    area : the floor is the square [0, area]^2
    speed : metres per frame of each person's random walk
    rng : random generator

    Returns
    -------
    per camera, a MotTable with global ids 1..people; box height grows with
    the foot's image row (nearer is lower and bigger), width = 0.4 height
    """
    pos = rng.uniform(0, area, (people, 2))
    head = rng.uniform(0, 2 * np.pi, people)
    tracks = []
    for _ in range(frames):
        head += rng.normal(0, 0.3, people)
        pos += speed * np.stack([np.cos(head), np.sin(head)], axis=1)
        out = (pos < 0) | (pos > area)
        head[out.any(axis=1)] += np.pi
        pos = np.clip(pos, 0, area)
        tracks.append(pos.copy())
    w, h = size
    tables = []
    for H in cams:
        fr, ids, boxes = [], [], []
        for k, p in enumerate(tracks):
            feet = ground_to_image(H, p)
            hh = 30.0 + 0.25 * np.clip(feet[:, 1], 0, h)
            b = np.stack([feet[:, 0] - 0.2 * hh, feet[:, 1] - hh, 0.4 * hh, hh], axis=1)
            ok = (b[:, 0] >= 0) & (b[:, 1] >= 0) & (b[:, 0] + b[:, 2] <= w) & (feet[:, 1] <= h)
            fr += [k + 1] * int(ok.sum())
            ids += list(np.flatnonzero(ok) + 1)
            boxes.append(b[ok])
        tables.append(
            MotTable.from_arrays(np.array(fr), np.array(ids), np.concatenate(boxes).reshape(-1, 4))
        )
    return tables
