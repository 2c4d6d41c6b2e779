"""A tiny multi-camera scene with pixels and ground truth, for pretrain/features tests.

Coloured stick figures (identity-specific shirt and trouser colours) walk
across two or more cameras; each camera sees the same people at a different
place, scale and lighting. Frames are PNG folders (lossless, fast), and both
``gt/`` and ``det/`` files are written (det = gt boxes with id -1).
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from mcmot.motio import MotTable, read_mot, write_mot

#: `mcmot run --config` overrides for a pipeline that runs in seconds: a tiny
#: model trained one epoch, CPU only, the detector at a small input size.
TINY_RUN = {
    "pretrain": {
        "img_height": 32, "img_width": 16, "patch_size": 8, "embed_dim": 32, "depth": 1,
        "num_heads": 2, "dec_dim": 16, "dec_depth": 1, "dec_heads": 2, "max_dets": 4,
        "teacher": "none", "batch_size": 2, "epochs": 1, "device": "cpu",
    },
    "features": {"device": "cpu"},
    "detect": {"device": "cpu", "imgsz": 320},
}  # fmt: skip


PALETTE = [
    ((40, 40, 200), (120, 60, 20)),
    ((40, 200, 40), (30, 30, 30)),
    ((200, 60, 40), (200, 200, 200)),
    ((0, 200, 220), (90, 20, 90)),
    ((200, 0, 200), (20, 120, 120)),
    ((230, 230, 230), (10, 10, 140)),
]


def _draw_person(img: np.ndarray, x: float, y: float, h: float, ident: int, light: float) -> None:
    shirt, trousers = (tuple(int(c * light) for c in col) for col in PALETTE[ident % len(PALETTE)])
    w = h * 0.4
    cx = int(x + w / 2)
    head = int(h * 0.12)
    cv2.circle(img, (cx, int(y + head)), head, (140, 170, 210), -1)
    cv2.rectangle(img, (int(x), int(y + 2 * head)), (int(x + w), int(y + h * 0.6)), shirt, -1)
    cv2.rectangle(
        img, (int(x + w * 0.1), int(y + h * 0.6)), (int(x + w * 0.9), int(y + h)), trousers, -1
    )


def make_tiny_scene(
    root: Path,
    cams: int = 2,
    frames: int = 6,
    persons: int = 3,
    size: tuple[int, int] = (160, 120),
    seed: int = 0,
) -> Path:
    """Write the scene into ``root`` and return it.

    Parameters
    ----------
    root : the scene folder (created)
    cams : cameras
    frames : frames per camera
    persons : people, all visible in every camera
    size : (w, h) of the frames
    seed : random seed of the starting positions and speeds
    """
    rng = np.random.default_rng(seed)
    w, h = size
    start = rng.uniform(0.05, 0.6, persons)
    speed = rng.uniform(0.01, 0.04, persons) * rng.choice([-1, 1], persons)
    depth = rng.uniform(0.4, 0.9, persons)
    for c in range(cams):
        name = f"cam{c + 1}"
        folder = root / "frames" / name
        folder.mkdir(parents=True, exist_ok=True)
        light = 1.0 - 0.25 * c
        scale = 1.0 - 0.15 * c
        rows: list[tuple[int, int, float, float, float, float]] = []
        for f in range(1, frames + 1):
            img = np.full((h, w, 3), (90 + 30 * c, 110, 100), np.uint8)
            img = (img + rng.integers(0, 12, img.shape)).astype(np.uint8)
            for p in range(persons):
                u = (start[p] + speed[p] * f) % 0.8
                if c % 2:
                    u = 0.8 - u
                ph = h * (0.35 + 0.35 * depth[p]) * scale
                x, y = u * w, h * 0.95 - ph - 4 * p
                _draw_person(img, x, y, ph, p, light)
                rows.append((f, p + 1, x, y, ph * 0.4, ph))
            cv2.imwrite(str(folder / f"{f:06d}.png"), img)
        arr = np.asarray(rows, np.float64)
        gt = MotTable.from_arrays(arr[:, 0], arr[:, 1], arr[:, 2:6])
        write_mot(root / "gt" / f"{name}.txt", gt)
        det = MotTable.from_arrays(
            arr[:, 0], -np.ones(len(arr)), arr[:, 2:6], scores=np.full(len(arr), 0.9)
        )
        write_mot(root / "det" / f"{name}.txt", det)
    return root


def write_feature_file(scene: Path, cam: str, feats: list | np.ndarray) -> None:
    """``features/<cam>.npz`` in the extract-features layout, rows aligned with ``det/<cam>.txt``
    (the same vectors as f_a and f_s)."""
    det = read_mot(scene / "det" / f"{cam}.txt", unique_ids=False)
    (scene / "features").mkdir(exist_ok=True)
    np.savez(
        scene / "features" / f"{cam}.npz",
        f_a=np.array(feats),
        f_s=np.array(feats),
        frames=det.frames,
        boxes=det.boxes,
        checkpoint=np.array("test"),
    )
