"""SSAT on the real PETS09-S2L1 camera, two folds: do clip-trained features tell people apart,
and does SSAT's tracker beat the others?

Protocol (no labels are used for training or for choosing anything):

- **Folds.** A: train (unlabeled) on frames 1-397, test on 398-795; B: the
  reverse. Each half is written as its own scene (video re-encoded at the
  true 7 frames/s; detections and ground truth renumbered from frame 1).
- **Detections.** ``mcmot detect``'s detector at its defaults (YOLO11n-pose,
  imgsz 1440), keeping confidences down to 0.1 for ByteTrack's second stage
  (cached by bench_track_pets).
- **Models, trained on the train half for ``--minutes`` each, on one core:**
  SSAT with the paper's inputs (whole frames, one class per 10-s clip) and
  SSAT with tracklet inputs (a variant: one class per 10-s piece of a track
  of ``track --features none`` on the train half), each for every seed;
  CalibFree (``cpu`` preset, no teacher) for every seed. Untrained ResNet-18
  and a colour histogram (HSV 8x8x8, square-rooted) are the controls, and the
  DINOv2 teacher (``--teacher max,mean,cls``: its read-outs) when installed.
- **Features alone** (ground-truth boxes of the test half): rank-1 (the
  nearest crop at least 1 s away has the query's identity) and ROC-AUC of
  same- vs different-identity pairs at least 1 s apart.
- **Tracking** (detections of the test half): SSAT's tracker (paper
  settings; with ``--tune``, also with tau1, tau2 and the maximum age chosen
  on the train half's labels, the development data of the fold; and its
  ablations without D_bbox and without EMA), DeepSORT at
  its defaults on SSAT and on CalibFree f_s features and on colour
  histograms (``extract-features --model histogram``, upper and lower half,
  RGB), DeepSORT motion-only, ultralytics ByteTrack and BoT-SORT. IDF1,
  HOTA, MOTA, IDSW; rows with a trained model are mean +- sd over the seeds.

Run: ``python -m benchmarks.bench_ssat_pets --work /tmp/bench-ssat [--minutes 2]
[--seeds 0,1,2] [--folds A,B] [--teacher max] [--json PATH]``; everything is cached under
``--work``; the JSON also holds every seed's raw results.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_track_pets import (  # noqa: E402
    evaluate,
    pets_data,
    run_ultralytics,
    yolo_detections,
)
from benchmarks.harness import Results, make_parser, print_machine  # noqa: E402
from mcmot.config import override, to_dict  # noqa: E402
from mcmot.crops import crop_resize  # noqa: E402
from mcmot.frames import open_source  # noqa: E402
from mcmot.models.checkpoint import SSAT, build_reid, save_checkpoint  # noqa: E402
from mcmot.models.clips_config import ClipsConfig  # noqa: E402
from mcmot.models.pretrain_config import PRESETS  # noqa: E402
from mcmot.motio import MotTable, read_mot, write_mot  # noqa: E402
from mcmot.stages.feature_files import load_features  # noqa: E402
from mcmot.stages.features import FeaturesConfig, run_extract_features  # noqa: E402
from mcmot.stages.pretrain import run_pretrain  # noqa: E402
from mcmot.stages.pretrain_clips import run_pretrain_clips  # noqa: E402
from mcmot.stages.track import track_camera  # noqa: E402
from mcmot.tracking import TrackerConfig  # noqa: E402
from mcmot.tracking.config import SsatConfig  # noqa: E402

HALF = 397
TOTAL = 795
#: PETS09's true frame rate (the container says 10).
FPS = 7.0
FOLDS = {"A": ((1, HALF), (HALF + 1, TOTAL)), "B": ((HALF + 1, TOTAL), (1, HALF))}
CAM = "view1"
SSAT_MODELS = ("SSAT frames", "SSAT tracklets")


# ----------------------------------------------------------------- the halves
def write_half(video: Path, first: int, last: int, out: Path) -> None:
    """Frames ``first..last`` of ``video`` as ``out`` (mp4v at FPS)."""
    if out.is_file():
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".part.mp4")
    with open_source(video) as src:
        w, h = src.size
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (w, h))
        for _, img in src.iter_frames(first, last):
            writer.write(img)
        writer.release()
    tmp.rename(out)


def shifted(table: MotTable, first: int, last: int) -> MotTable:
    """Rows of frames ``first..last``, renumbered from 1 and sorted by frame."""
    part = table.frame_range(first, last)
    part = part.select(np.argsort(part.frames, kind="stable"))
    return MotTable.from_arrays(part.frames - first + 1, part.ids, part.boxes, part.scores)


def make_scene(root: Path, video: Path, span: tuple[int, int], det: MotTable, gt: MotTable) -> None:
    """A scene of one half of ``video``: the video, det/ (detections) and gt/ (renumbered)."""
    write_half(video, *span, root / "videos" / f"{CAM}.mp4")
    for stage, table in (("det", det), ("gt", gt)):
        path = root / stage / f"{CAM}.txt"
        if not path.is_file():
            write_mot(path, shifted(table, *span), precision=3)


def gt_box_scene(test: Path, boxes: Path) -> MotTable:
    """A scene whose det/ holds the test half's ground-truth boxes (same video); its gt rows."""
    gt = read_mot(test / "gt" / f"{CAM}.txt")
    (boxes / "videos").mkdir(parents=True, exist_ok=True)
    link = boxes / "videos" / f"{CAM}.mp4"
    if not link.exists():
        link.symlink_to((test / "videos" / f"{CAM}.mp4").resolve())
    path = boxes / "det" / f"{CAM}.txt"
    if not path.is_file():
        write_mot(path, MotTable.from_arrays(gt.frames, -np.ones(len(gt)), gt.boxes, gt.scores))
    det = read_mot(path, unique_ids=False)
    assert np.array_equal(det.frames, gt.frames) and np.allclose(det.boxes, gt.boxes, atol=0.01)
    return gt


# ----------------------------------------------------------------- models
def train_ssat(train: Path, run: Path, inputs: str, seed: int, minutes: float) -> Path:
    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        cfg = ClipsConfig(inputs=inputs, seed=seed, minutes=minutes, device="cpu")
        res = run_pretrain_clips([train], run, cfg, overwrite=True)
        print(f"  {run.name}: {res.classes} classes, {res.images} images, {res.step} steps, "
              f"last lmcl {res.losses.get('lmcl', float('nan')):.3f} acc "
              f"{res.losses.get('acc', float('nan')):.2f}", flush=True)  # fmt: skip
    return ckpt


def untrained_ssat(run: Path, seed: int) -> Path:
    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        cfg = ClipsConfig(seed=seed, device="cpu")
        torch.manual_seed(seed)
        net = build_reid(cfg, 0, None)
        save_checkpoint(ckpt, {"config": to_dict(cfg), "model": net.state_dict()}, SSAT)
    return ckpt


def train_calibfree(train: Path, run: Path, seed: int, minutes: float) -> Path:
    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        cfg = override(PRESETS["cpu"], seed=seed, minutes=minutes, teacher="none", device="cpu")
        run_pretrain([train], run, cfg, overwrite=True)
    return ckpt


def features(scene: Path, model: str, key: str, out: Path, **extra: object) -> np.ndarray:
    """``key`` features of the scene's det rows with ``model``, cached as ``out``."""
    if not out.is_file():
        run_extract_features(
            scene, FeaturesConfig(model=model, device="cpu", **extra), overwrite=True
        )
        out.parent.mkdir(parents=True, exist_ok=True)
        (scene / "features" / f"{CAM}.npz").replace(out)
    det = read_mot(scene / "det" / f"{CAM}.txt", unique_ids=False)
    return load_features(out, det, key, scene)


def colour_histograms(scene: Path) -> np.ndarray:
    """(N, 512) square-rooted HSV 8x8x8 histograms of the det rows' crops, L2-normalised."""
    det = read_mot(scene / "det" / f"{CAM}.txt", unique_ids=False)
    out = np.zeros((len(det), 512), np.float32)
    with open_source(scene / "videos" / f"{CAM}.mp4") as src:
        for i in range(len(det)):
            crop = crop_resize(src.read(int(det.frames[i])), det.boxes[i], 128, 64)
            hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
            h = cv2.calcHist([hsv], [0, 1, 2], None, [8, 8, 8], [0, 180, 0, 256, 0, 256])
            out[i] = np.sqrt(h.ravel() / max(h.sum(), 1))
    return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)


# ----------------------------------------------------------------- metrics
def retrieval(
    feats: np.ndarray, frames: np.ndarray, ids: np.ndarray, gap: int
) -> tuple[float, float]:
    """Rank-1 and ROC-AUC of identity over pairs at least ``gap`` frames apart."""
    sim = feats @ feats.T
    far = np.abs(frames[:, None] - frames[None, :]) >= gap
    same = ids[:, None] == ids[None, :]
    masked = np.where(far, sim, -np.inf)
    has_match = (far & same).any(axis=1)
    best = masked.argmax(axis=1)
    rank1 = float((ids[best] == ids)[has_match].mean())
    upper = np.triu(far, 1)
    pos, neg = sim[upper & same], sim[upper & ~same]
    ranks = np.concatenate([pos, neg]).argsort().argsort() + 1.0
    auc = (ranks[: len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg))
    return rank1, float(auc)


def mean_sd(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.3f}"
    return f"{np.mean(values):.3f} ± {np.std(values, ddof=1):.3f}"


# ----------------------------------------------------------------- tuning on the train half
#: SSAT tracker settings tried on the train half (``--tune``).
TUNE_GRID = [
    {"tau1": t1, "tau2": t1 + d, "max_age_seconds": age}
    for t1 in (0.3, 0.45, 0.56, 0.7)
    for d in (0.08, 0.2)
    for age in (3.0, 6.0)
]


def tune_ssat(train: Path, fold: Path, ckpt: Path) -> SsatConfig:
    """The grid's settings with the best IDF1 + HOTA on the train half, with ``ckpt``'s features."""
    feats = features(train, str(ckpt), "f_s", fold / "feats-train" / f"{ckpt.parent.name}.npz")
    det = read_mot(train / "det" / f"{CAM}.txt", unique_ids=False)
    gt = read_mot(train / "gt" / f"{CAM}.txt")
    n = int(max(gt.frames.max(), det.frames.max()))

    def score(change: dict[str, float]) -> float:
        m = evaluate(gt, track_camera(det, feats, n, override(SsatConfig(fps=FPS), **change)), n)
        return m["IDF1"] + m["HOTA"]

    return override(SsatConfig(fps=FPS), **max(TUNE_GRID, key=score))


# ----------------------------------------------------------------- one fold
def tracklets_for_training(train: Path) -> None:
    """``track --features none`` on the train half: the tracklet variant's classes."""
    path = train / "tracks" / f"{CAM}.txt"
    if not path.is_file():
        det = read_mot(train / "det" / f"{CAM}.txt", unique_ids=False)
        n = int(det.frames.max())
        write_mot(path, track_camera(det, None, n, TrackerConfig(fps=FPS)))


def models(fold: Path, train: Path, seeds: list[int], minutes: float) -> dict[str, list[Path]]:
    """Checkpoints by model name, one per seed."""
    out: dict[str, list[Path]] = {"SSAT frames": [], "SSAT tracklets": [], "CalibFree": []}
    for s in seeds:
        out["SSAT frames"].append(
            train_ssat(train, fold / f"ssat-frames-s{s}", "frames", s, minutes)
        )
        out["SSAT tracklets"].append(
            train_ssat(train, fold / f"ssat-tracklets-s{s}", "tracklets", s, minutes)
        )
        out["CalibFree"].append(train_calibfree(train, fold / f"calibfree-s{s}", s, minutes))
    out["untrained ResNet-18"] = [untrained_ssat(fold / "untrained", 0)]
    return out


def feature_sets(
    scene: Path, cache: Path, ckpts: dict[str, list[Path]], teacher: tuple[str, ...]
) -> dict[str, list[np.ndarray]]:
    """Features of the scene's det rows by row name, one array per seed."""
    sets: dict[str, list[np.ndarray]] = {"colour histogram": [colour_histograms(scene)]}
    for name, paths in ckpts.items():
        keys = ("f_s", "f_a") if name == "CalibFree" else ("f_s",)
        for key in keys:
            label = f"{name} {key}" if name == "CalibFree" else name
            sets[label] = [
                features(scene, str(p), key, cache / f"{p.parent.name}.npz") for p in paths
            ]
    for pooling in teacher:
        sets[f"teacher ({pooling})"] = [
            features(scene, "teacher", "f_s", cache / f"teacher-{pooling}.npz", pooling=pooling)
        ]
    return sets


def trackers(
    det: MotTable, n: int, feats: dict[str, list[np.ndarray]], tuned: dict[str, list[SsatConfig]]
) -> dict[str, list[Callable[[], MotTable]]]:
    """Tracking runs by row name (one per seed); ``tuned``: per model, each seed's settings."""
    ssat, deep = SsatConfig(fps=FPS), TrackerConfig(fps=FPS)
    runs: dict[str, list[Callable[[], MotTable]]] = {}
    for name, cfgs in tuned.items():
        runs[f"SSAT tracker tuned on the train half, {name}"] = [
            lambda f=f, c=c: track_camera(det, f, n, c)
            for f, c in zip(feats[name], cfgs, strict=True)
        ]
    for name in ("SSAT frames", "SSAT tracklets", "untrained ResNet-18"):
        fs = feats[name]
        runs[f"SSAT tracker, {name}"] = [lambda f=f: track_camera(det, f, n, ssat) for f in fs]
    for name in ("SSAT frames", "SSAT tracklets"):
        fs = feats[name]
        for label, cfg in (
            ("no D_bbox", override(ssat, box_cost=False)),
            ("no EMA", override(ssat, ema=1.0)),
        ):
            runs[f"SSAT tracker {label}, {name}"] = [
                lambda f=f, c=cfg: track_camera(det, f, n, c) for f in fs
            ]
        runs[f"DeepSORT, {name}"] = [lambda f=f: track_camera(det, f, n, deep) for f in fs]
    runs["DeepSORT, CalibFree f_s"] = [
        lambda f=f: track_camera(det, f, n, deep) for f in feats["CalibFree f_s"]
    ]
    runs["DeepSORT, colour histogram (--model histogram)"] = [
        lambda: track_camera(det, feats["histogram"][0], n, deep)
    ]
    runs["SSAT tracker, boxes only (D_bbox)"] = [lambda: track_camera(det, None, n, ssat)]
    runs["DeepSORT, motion only"] = [lambda: track_camera(det, None, n, deep)]
    runs["ultralytics ByteTrack"] = [lambda: run_ultralytics("bytetrack", det, n)]
    runs["ultralytics BoT-SORT"] = [lambda: run_ultralytics("botsort", det, n)]
    return runs


def run_fold(name: str, args: argparse.Namespace, video: Path, det: MotTable, gt: MotTable) -> dict:
    fold = args.work / f"fold{name}"
    (train_span, test_span) = FOLDS[name]
    train, test = fold / "train", fold / "test"
    make_scene(train, video, train_span, det, gt)
    make_scene(test, video, test_span, det, gt)
    tracklets_for_training(train)
    t0 = time.perf_counter()
    ckpts = models(fold, train, args.seeds, args.minutes)
    print(f"fold {name}: models ready ({time.perf_counter() - t0:.0f} s)", flush=True)
    truth = gt_box_scene(test, fold / "test-gt")
    gap = round(FPS)  # 1 s
    retr = {
        k: [retrieval(f, truth.frames, truth.ids, gap) for f in fs]
        for k, fs in feature_sets(fold / "test-gt", fold / "feats-gt", ckpts, args.teacher).items()
    }
    test_det = read_mot(test / "det" / f"{CAM}.txt", unique_ids=False)
    test_gt = read_mot(test / "gt" / f"{CAM}.txt")
    n = int(max(test_gt.frames.max(), test_det.frames.max()))
    feats = feature_sets(test, fold / "feats-det", ckpts, teacher=())
    feats["histogram"] = [features(test, "histogram", "f_s", fold / "feats-det" / "histogram.npz")]
    tuned = {}
    if args.tune:
        tuned = {m: [tune_ssat(train, fold, c) for c in ckpts[m]] for m in SSAT_MODELS}
        for m, cfgs in tuned.items():
            chosen = [f"{c.tau1:g}/{c.tau2:g}/{c.max_age_seconds:g}s" for c in cfgs]
            print(f"fold {name}, {m}: tau1/tau2/max age chosen on the train half: {chosen}")
    tracking = {
        k: [evaluate(test_gt, fn(), n) for fn in fns]
        for k, fns in trackers(test_det, n, feats, tuned).items()
    }
    return {"retrieval": retr, "tracking": tracking}


def print_tables(folded: dict[str, dict], results: Results) -> None:
    folds = list(folded)
    rows = []
    for row in folded[folds[0]]["retrieval"]:
        cells: dict[str, object] = {"features": row}
        for f in folds:
            vals = folded[f]["retrieval"][row]
            cells[f"rank-1 {f}"] = mean_sd([v[0] for v in vals])
            cells[f"AUC {f}"] = mean_sd([v[1] for v in vals])
        rows.append(cells)
    title = "Features alone, ground-truth boxes of the test half (pairs >= 1 s apart)"
    results.table(title, rows)
    tracking_tables(folded, results, "tracker, features")


def tracking_tables(folded: dict[str, dict], results: Results, label: str) -> None:
    """IDF1, HOTA, MOTA and IDSW of every tracking row, mean +- sd over seeds, per fold."""
    folds = list(folded)
    for metric in ("IDF1", "HOTA", "MOTA", "IDSW"):
        rows = [
            {label: row}
            | {
                f"fold {f}": mean_sd([float(m[metric]) for m in folded[f]["tracking"][row]])
                for f in folds
            }
            for row in folded[folds[0]]["tracking"]
        ]
        results.table(f"Tracking, detections of the test half: {metric}", rows)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--minutes", type=float, default=2.0, help="training budget of each model")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--folds", default="A,B")
    ap.add_argument(
        "--teacher",
        default="",
        help="the DINOv2 teacher's read-outs to add, e.g. max,mean,cls (needs mcmot[teacher])",
    )
    ap.add_argument(
        "--tune", action="store_true", help="also SSAT's tracker tuned on the train half"
    )
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/mcmot_track_bench"))
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.seeds = [int(s) for s in args.seeds.split(",")]
    args.teacher = tuple(t for t in args.teacher.split(",") if t)
    folded = run_folds(args, run_fold)
    print_tables(folded, Results(args.json, info={"folds": folded}))


def run_folds(
    args: argparse.Namespace,
    run_fold: Callable[[str, argparse.Namespace, Path, MotTable, MotTable], dict],
) -> dict[str, dict]:
    """The machine header, then ``run_fold`` on each of ``args.folds`` with the video and
    the cached detections and ground truth of the whole sequence."""
    data = pets_data()
    torch.set_num_threads(1)
    print_machine(
        f"data: PETS09-S2L1 View 1 ({TOTAL} frames at {FPS:g} frames/s), folds {args.folds}; "
        f"training {args.minutes:g} min per model, seeds {args.seeds}"
    )
    det = yolo_detections(data / "vtest.avi", args.cache_dir, TOTAL)
    gt = read_mot(data / "gt.txt")
    return {f: run_fold(f, args, data / "vtest.avi", det, gt) for f in args.folds.split(",")}


if __name__ == "__main__":
    main()
