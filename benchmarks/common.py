"""Helpers that several benchmarks share: the untrained-encoder control, one-to-one box
matching, cross-view top-1 retrieval, scene folders that share another scene's pixels
and ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
from mcmot.association.smoothing import centred_rows
from mcmot.boxes import iou_matrix
from mcmot.motio import MotTable
from mcmot.scene import Scene


def untrained_checkpoint(trained: Path, out: Path) -> Path:
    """The encoder ``trained`` started from, before any step, saved as ``out``; ``out``.

    ``run_pretrain`` seeds torch with ``cfg.seed`` right before building the
    model, so the same config and seed give the same initial weights.
    """
    import torch

    from mcmot.models.checkpoint import (
        FORMAT,
        build_model,
        config_from_dict,
        load_checkpoint,
        save_checkpoint,
    )

    state = load_checkpoint(trained)
    cfg = config_from_dict(state["config"])
    torch.manual_seed(cfg.seed)
    model = build_model(cfg.model_config())
    out.parent.mkdir(parents=True, exist_ok=True)
    save_checkpoint(
        out,
        {
            "format": FORMAT,
            "config": state["config"],
            "model": model.state_dict(),
            "step": 0,
            "finished": False,
            "teacher": state.get("teacher", ""),
        },
    )
    return out


def match_boxes(
    a: NDArray, b: NDArray, threshold: float
) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
    """One-to-one pairs of tlwh boxes (rows of ``a``, rows of ``b``) with IoU >= ``threshold``.

    Hungarian on the IoU of every pair, then the pairs below the threshold dropped.
    """
    if len(a) == 0 or len(b) == 0:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    iou = iou_matrix(a, b)
    rows, cols = linear_sum_assignment(-iou)
    ok = iou[rows, cols] >= threshold
    return rows[ok], cols[ok]


def label_detections(det: MotTable, gt: MotTable, threshold: float = 0.5) -> NDArray[np.int64]:
    """Ground-truth id of each detection row: in each frame the one-to-one pairs of
    :func:`match_boxes` (IoU >= ``threshold``); -1 where a detection gets none. Both
    tables sorted by frame."""
    labels = np.full(len(det), -1, np.int64)
    gslices = gt.frame_slices()
    for frame, sl in det.frame_slices().items():
        gsl = gslices.get(frame)
        if gsl is None:
            continue
        rows, cols = match_boxes(det.boxes[sl], gt.boxes[gsl], threshold)
        labels[sl.start + rows] = gt.ids[gsl][cols]
    return labels


def crossview_top1(
    frames: dict[str, NDArray[np.int64]],
    ids: dict[str, NDArray[np.int64]],
    feats: dict[str, NDArray],
    slot: bool = False,
) -> tuple[int, int, float]:
    """(hits, queries, summed chance) of cross-view top-1 retrieval in one scene.

    Per camera, ``frames``, ``ids`` and ``feats`` are aligned with its det rows.
    A query is a detection and another camera in which its person is seen at
    that frame: is the most similar of that camera's detections (largest dot
    product; with ``slot``, the nearest scalar) the same person? Chance is 1 /
    (that camera's detections).
    """
    cams = list(frames)
    hits = queries = 0
    chance = 0.0
    for qc in cams:
        for oc in cams:
            if oc == qc:
                continue
            fq, fo = frames[qc], frames[oc]
            for f in np.intersect1d(fq, fo):
                rq, ro = np.flatnonzero(fq == f), np.flatnonzero(fo == f)
                xq = feats[qc][rq].astype(np.float64)
                xo = feats[oc][ro].astype(np.float64)
                sim = -np.abs(xq - xo.T) if slot else xq @ xo.T
                for k, r in enumerate(rq):
                    if not np.any(ids[oc][ro] == ids[qc][r]):
                        continue
                    hits += int(ids[oc][ro[int(np.argmax(sim[k]))]] == ids[qc][r])
                    queries += 1
                    chance += 1.0 / len(ro)
    return hits, queries, chance


def variant(scene: Path, root: Path) -> Scene:
    """A scene folder ``root`` that shares ``scene``'s pixels and ground truth (symlinks).

    Each variant holds its own det/, features/, tracks/ and global/, so box
    sources and encoders never overwrite each other's outputs.
    """
    root.mkdir(parents=True, exist_ok=True)
    for name in ("frames", "videos", "gt"):
        src, dst = scene / name, root / name
        if src.exists() and not dst.exists():
            dst.symlink_to(src.resolve(), target_is_directory=True)
    return Scene(root)


def camera_centred_rows(f: NDArray) -> NDArray[np.float32]:
    """One camera's (N, D) features L2-normalised, their mean row removed and normalised
    again: what ``mcmot associate`` compares across cameras."""
    x = np.asarray(f, np.float64)
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    return centred_rows(x, x.mean(axis=0))
