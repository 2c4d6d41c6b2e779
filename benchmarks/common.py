"""Helpers that several benchmarks share: the untrained-encoder control, one-to-one box
matching, scene folders that share another scene's pixels and ground truth."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from mcmot.assignment import linear_sum_assignment
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
