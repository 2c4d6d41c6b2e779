"""Images for building and checking ground truth by eye on a multi-camera scene.

Two kinds of picture, both PNG:

- ``mosaic``: every camera of one frame side by side (a grid), the boxes of a
  MOT folder (``gt/``, ``tracks/``, ``global/`` or ``det/``) drawn with their
  identity, optionally the detector's boxes in thin grey under them. One image
  per requested frame.
- ``strip``: one camera, several frames in a grid (``--columns`` per row),
  for following one camera closely through a crossing or an occlusion.
- ``sheet``: for one camera, one row per identity and one column per sampled
  frame, each cell the crop of that identity's box. A row that changes person
  part-way is an identity switch; a row whose crops do not all show the same
  person is wrong. This checks identity over time far faster than mosaics do.

Usage::

    python -m benchmarks.make_gt_mosaics mosaic SCENE --boxes SCENE/gt --frames 1:125:5 --out D
    python -m benchmarks.make_gt_mosaics strip SCENE --boxes SCENE/gt --camera c2 \
        --frames 20:31 --out F.png
    python -m benchmarks.make_gt_mosaics sheet SCENE --boxes SCENE/gt --camera c0 --step 5 \
        --out F.png

``--frames`` takes ``START:END[:STEP]`` (inclusive) or comma-separated frames.
Frames are 1-based: frame 1 is the first decoded frame of each video.
The images written are listed on stdout (and in ``--json PATH``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.harness import Results, make_parser
from mcmot.motio import MotTable, read_mot, read_truth
from mcmot.render import id_colour

Image = NDArray[np.uint8]


def read_videos(scene: Path) -> dict[str, list[Image]]:
    """Every decoded frame of every ``videos/<cam>.mp4`` (small clips only)."""
    out: dict[str, list[Image]] = {}
    for path in sorted((scene / "videos").glob("*.mp4")):
        cap = cv2.VideoCapture(str(path))
        frames: list[Image] = []
        while True:
            ok, img = cap.read()
            if not ok:
                break
            frames.append(img)
        cap.release()
        out[path.stem] = frames
    return out


def read_boxes(folder: Path | None, cameras: list[str]) -> dict[str, MotTable]:
    """The MOT file of each camera in ``folder`` (empty tables where absent)."""
    out: dict[str, MotTable] = {}
    for cam in cameras:
        path = folder / f"{cam}.txt" if folder else None
        if path is None or not path.exists():
            out[cam] = MotTable.empty()
        elif folder is not None and folder.name == "gt":
            out[cam] = read_truth(path)[0]
        else:
            out[cam] = read_mot(path, unique_ids=False)
    return out


def parse_frames(text: str, n_frames: int) -> list[int]:
    """``START:END[:STEP]`` (inclusive) or ``a,b,c`` -> frame numbers within 1..n_frames."""
    if ":" in text:
        parts = [int(p) for p in text.split(":")]
        start, end = parts[0], parts[1]
        step = parts[2] if len(parts) > 2 else 1
        frames = list(range(start, end + 1, step))
    else:
        frames = [int(p) for p in text.split(",") if p]
    return [f for f in frames if 1 <= f <= n_frames]


def draw_tile(
    img: Image,
    boxes: MotTable,
    under: MotTable,
    frame: int,
    scale: float,
    label: str,
) -> Image:
    """One camera's frame, enlarged by ``scale``, with its boxes of ``frame`` drawn."""
    tile = cv2.resize(img, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    for (x, y, w, h), in_frame in ((b, True) for b in under.boxes[under.frames == frame]):
        del in_frame
        p0 = (int(x * scale), int(y * scale))
        p1 = (int((x + w) * scale), int((y + h) * scale))
        cv2.rectangle(tile, p0, p1, (200, 200, 200), 1)
    sel = boxes.frames == frame
    for ident, (x, y, w, h) in zip(boxes.ids[sel], boxes.boxes[sel], strict=True):
        c = id_colour(int(ident))
        p0 = (int(x * scale), int(y * scale))
        p1 = (int((x + w) * scale), int((y + h) * scale))
        cv2.rectangle(tile, p0, p1, c, 2)
        text = str(int(ident))
        org = (max(p0[0], 0) + 2, max(p0[1], 0) + 22)
        cv2.putText(tile, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.8, (0, 0, 0), 4)
        cv2.putText(tile, text, org, cv2.FONT_HERSHEY_SIMPLEX, 0.8, c, 2)
    cv2.putText(tile, label, (6, tile.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (0, 0, 0), 4)
    cv2.putText(
        tile, label, (6, tile.shape[0] - 8), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 2
    )
    return tile


def mosaic(
    videos: dict[str, list[Image]],
    boxes: dict[str, MotTable],
    under: dict[str, MotTable],
    frame: int,
    scale: float,
    columns: int,
) -> Image:
    """All cameras of one frame in a grid of ``columns`` tiles per row."""
    tiles = [
        draw_tile(videos[c][frame - 1], boxes[c], under[c], frame, scale, f"{c} frame {frame}")
        for c in videos
    ]
    return grid(tiles, columns)


def grid(tiles: list[Image], columns: int) -> Image:
    """Equal-sized tiles in rows of ``columns`` (the last row padded with black)."""
    tiles = list(tiles)
    while len(tiles) % columns:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i : i + columns]) for i in range(0, len(tiles), columns)]
    return np.vstack(rows)


def sheet(
    frames: list[Image],
    boxes: MotTable,
    sample: list[int],
    cell: tuple[int, int] = (48, 96),
) -> Image:
    """One row per identity, one column per sampled frame, each cell the crop of its box."""
    cw, ch = cell
    ids = sorted(int(i) for i in np.unique(boxes.ids))
    head = 16
    label_w = 40
    out = np.full((head + ch * len(ids), label_w + cw * len(sample), 3), 255, np.uint8)
    for j, f in enumerate(sample):
        if j % 2 == 0:
            cv2.putText(
                out, str(f), (label_w + j * cw + 2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1
            )
    for r, ident in enumerate(ids):
        y0 = head + r * ch
        cv2.putText(
            out, str(ident), (2, y0 + ch // 2), cv2.FONT_HERSHEY_SIMPLEX, 0.6, id_colour(ident), 2
        )
        mine = boxes.select(boxes.ids == ident)
        for j, f in enumerate(sample):
            sel = np.flatnonzero(mine.frames == f)
            if len(sel) == 0:
                continue
            x, y, w, h = mine.boxes[sel[0]]
            img = frames[f - 1]
            x0, y0b = max(int(x), 0), max(int(y), 0)
            x1, y1 = min(int(x + w), img.shape[1]), min(int(y + h), img.shape[0])
            if x1 <= x0 or y1 <= y0b:
                continue
            crop = cv2.resize(img[y0b:y1, x0:x1], (cw - 2, ch - 2))
            out[y0 + 1 : y0 + ch - 1, label_w + j * cw + 1 : label_w + (j + 1) * cw - 1] = crop
    return out


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__, full_help=True)
    ap.add_argument("kind", choices=["mosaic", "strip", "sheet"])
    ap.add_argument("scene", type=Path)
    ap.add_argument("--boxes", type=Path, required=True, help="folder of <cam>.txt MOT files")
    ap.add_argument("--under", type=Path, default=None, help="folder drawn in thin grey (det/)")
    ap.add_argument("--frames", default="1:125:5")
    ap.add_argument("--camera", default=None, help="sheet: the camera")
    ap.add_argument("--step", type=int, default=5, help="sheet: every STEP-th frame")
    ap.add_argument("--scale", type=float, default=1.5)
    ap.add_argument("--columns", type=int, default=2)
    ap.add_argument("--out", type=Path, required=True)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    videos = read_videos(args.scene)
    cameras = list(videos)
    boxes = read_boxes(args.boxes, cameras)
    n_frames = min(len(v) for v in videos.values())
    written: list[dict[str, object]] = []

    def write(path: Path, img: Image) -> None:
        cv2.imwrite(str(path), img)
        written.append({"image": str(path), "height": img.shape[0], "width": img.shape[1]})

    if args.kind == "mosaic":
        under = read_boxes(args.under, cameras)
        args.out.mkdir(parents=True, exist_ok=True)
        for f in parse_frames(args.frames, n_frames):
            write(
                args.out / f"{f:04d}.png", mosaic(videos, boxes, under, f, args.scale, args.columns)
            )
    elif args.kind == "strip":
        cam = args.camera or cameras[0]
        under = read_boxes(args.under, cameras)
        tiles = [
            draw_tile(videos[cam][f - 1], boxes[cam], under[cam], f, args.scale, f"{cam} {f}")
            for f in parse_frames(args.frames, n_frames)
        ]
        write(args.out, grid(tiles, args.columns))
    else:
        cam = args.camera or cameras[0]
        sample = list(range(1, n_frames + 1, args.step))
        write(args.out, sheet(videos[cam], boxes[cam], sample))
    Results(args.json).table(f"{args.kind} images", written, title=False)


if __name__ == "__main__":
    main()
