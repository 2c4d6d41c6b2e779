"""The learned tracker on held-out synthetic ``hard`` scenes (dense occlusion, look-alikes).

Protocol (no labels are used for training or for choosing anything; every
setting is the default):

- **Scenes.** ``mcmot synth``: one training scene (seed ``--train-seed``) and
  ``--scenes`` held-out scenes (seeds ``--test-seed``, +1, ...), all ``hard``,
  4 cameras, 8 people, 200 frames at 10 frames/s, 640x360.
- **Boxes.** Every tracker gets each scene's ground-truth boxes with the
  identities removed and the rows shuffled within each file (a detector-free
  comparison of the trackers alone).
- **Learned tracker, inductive**: ``pretrain --objective cross-input`` on the
  training scene's footage for ``--minutes`` per seed (one core), then
  ``track --tracker learned`` on every held-out scene; also its visual and
  spatial halves alone, without the exit rule (``exit_seconds`` 0), with
  DeepSORT's confirmation (``n_init_seconds`` 0.3), and without both limits
  (``max_speed`` and ``exit_seconds`` 0, the paper's inference).
- **Learned tracker, transductive**: trained on the held-out scene's own
  footage (no labels) for ``--transductive-minutes`` (seed 0), then tracking it:
  the use a user makes of it on their own cameras.
- **Peers on the same rows**: mcmot DeepSORT motion only and on colour
  histograms (``extract-features --model histogram``, the training-free
  control), ultralytics ByteTrack and BoT-SORT.
- IDF1, HOTA, MOTA, IDSW per camera, averaged over cameras and scenes; rows
  with several seeds are mean +- sd over the seeds.

Run: ``python -m benchmarks.bench_learned_synth --work /tmp/bench-learned-synth
[--scenes 5] [--minutes 5] [--seeds 0,1] [--transductive-minutes 3] [--json PATH]``
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_ssat_pets import mean_sd  # noqa: E402
from benchmarks.bench_track_pets import evaluate, run_ultralytics  # noqa: E402
from benchmarks.harness import Results, make_parser, print_machine  # noqa: E402
from mcmot.models.cross_input_config import CrossInputConfig  # noqa: E402
from mcmot.motio import MotTable, read_mot, write_mot  # noqa: E402
from mcmot.scene import Camera, Scene  # noqa: E402
from mcmot.stages.feature_files import load_features  # noqa: E402
from mcmot.stages.features import FeaturesConfig, run_extract_features  # noqa: E402
from mcmot.stages.pretrain_cross_input import run_pretrain_cross_input  # noqa: E402
from mcmot.stages.track import track_camera  # noqa: E402
from mcmot.stages.track_learned import camera_crop_features  # noqa: E402
from mcmot.synth import SynthConfig, generate_scene  # noqa: E402
from mcmot.tracking import TrackerConfig  # noqa: E402
from mcmot.tracking.config import LearnedConfig  # noqa: E402

FPS = 10.0


def synth_scene(root: Path, seed: int) -> Path:
    """A hard scene with det/ = its gt boxes, ids removed, rows shuffled (cached)."""
    if not (root / "det").is_dir():
        cfg = SynthConfig(cameras=4, people=8, frames=200, fps=FPS, seed=seed, difficulty="hard")
        generate_scene(root, cfg, overwrite=True)
        rng = np.random.default_rng(seed)
        for gt_path in sorted((root / "gt").glob("*.txt")):
            gt = read_mot(gt_path)
            rows = gt.select(rng.permutation(len(gt)))
            det = MotTable.from_arrays(rows.frames, -np.ones(len(rows)), rows.boxes, rows.scores)
            write_mot(root / "det" / gt_path.name, det)
    return root


def train(scene: Path, run: Path, seed: int, minutes: float) -> Path:
    """A cross-input checkpoint trained on ``scene`` (cached)."""
    ckpt = run / "checkpoint.pt"
    if not ckpt.is_file():
        cfg = CrossInputConfig(seed=seed, minutes=minutes, device="cpu")
        res = run_pretrain_cross_input([scene], run, cfg, overwrite=True)
        print(f"  {run.name}: {res.starts} starts, {res.step} steps", flush=True)
    return ckpt


def scene_scores(
    root: Path, trackers: dict[str, list[Callable[..., MotTable]]]
) -> dict[str, list[dict[str, float]]]:
    """Per tracker row and seed, the metrics averaged over the scene's cameras."""
    scene = Scene(root)
    out: dict[str, list[dict[str, float]]] = {}
    per_cam = []
    for cam in scene.cameras():
        det = read_mot(root / "det" / f"{cam.name}.txt", unique_ids=False)
        gt = read_mot(root / "gt" / f"{cam.name}.txt")
        n = int(max(gt.frames.max(), det.frames.max()))
        per_cam.append(
            {k: [evaluate(gt, fn(cam, det, n), n) for fn in fns] for k, fns in trackers.items()}
        )
    for k in trackers:
        out[k] = [
            {
                m: float(np.mean([c[k][s][m] for c in per_cam]))
                for m in ("IDF1", "HOTA", "MOTA", "IDSW")
            }
            for s in range(len(trackers[k]))
        ]
    return out


def learned(ckpt: Path, use: str = "both", **extra: float) -> Callable[..., MotTable]:
    cfg = LearnedConfig(model=str(ckpt), fps=FPS, matchers=use, **extra)
    return lambda cam, det, n: track_camera(
        det, camera_crop_features(cfg, cam, det), n, cfg, camera=cam
    )


def histogram_deepsort(root: Path, deep: TrackerConfig) -> Callable[..., MotTable]:
    """DeepSORT on the scene's colour histograms (``features/`` written once)."""
    if not all((root / "features" / f"{c.name}.npz").is_file() for c in Scene(root).cameras()):
        run_extract_features(root, FeaturesConfig(model="histogram"), overwrite=True)

    def run(cam: Camera, det: MotTable, n: int) -> MotTable:
        feats = load_features(root / "features" / f"{cam.name}.npz", det, "f_s", root)
        return track_camera(det, feats, n, deep)

    return run


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--scenes", type=int, default=5)
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--transductive-minutes", type=float, default=3.0)
    ap.add_argument("--train-seed", type=int, default=9100)
    ap.add_argument("--test-seed", type=int, default=9200)
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)
    last = args.test_seed + args.scenes - 1
    print_machine(
        f"data: synthetic hard scenes (4 cameras, 8 people, 200 frames at {FPS:g} frames/s), "
        f"train seed {args.train_seed}, held-out seeds {args.test_seed}..{last}; training "
        f"{args.minutes:g} min per seed {seeds}, transductive {args.transductive_minutes:g} min"
    )
    t0 = time.perf_counter()
    train_scene = synth_scene(args.work / "train", args.train_seed)
    ckpts = [train(train_scene, args.work / f"learned-s{s}", s, args.minutes) for s in seeds]
    deep = TrackerConfig(fps=FPS)
    per_scene = []
    for i in range(args.scenes):
        root = synth_scene(args.work / f"test-{i}", args.test_seed + i)
        own = train(root, args.work / f"transductive-{i}", 0, args.transductive_minutes)
        trackers = {
            "learned tracker": [learned(c) for c in ckpts],
            "visual half only": [learned(c, "visual") for c in ckpts],
            "spatial half only": [learned(c, "spatial") for c in ckpts],
            "learned tracker, no exit rule": [learned(c, exit_seconds=0.0) for c in ckpts],
            "learned tracker, DeepSORT's confirmation": [
                learned(c, n_init_seconds=0.3) for c in ckpts
            ],
            "learned tracker, no reach limit or exit rule (the paper)": [
                learned(c, max_speed=0.0, exit_seconds=0.0) for c in ckpts
            ],
            "learned tracker, transductive (trained on the scene itself)": [learned(own)],
            "DeepSORT, motion only": [lambda cam, det, n: track_camera(det, None, n, deep)],
            "DeepSORT, colour histogram": [histogram_deepsort(root, deep)],
            "ultralytics ByteTrack": [lambda cam, det, n: run_ultralytics("bytetrack", det, n)],
            "ultralytics BoT-SORT": [lambda cam, det, n: run_ultralytics("botsort", det, n)],
        }
        per_scene.append(scene_scores(root, trackers))
        print(f"scene {i + 1}/{args.scenes} done ({time.perf_counter() - t0:.0f} s)", flush=True)
    results = Results(args.json, info={"scenes": per_scene})
    for metric in ("IDF1", "HOTA", "MOTA", "IDSW"):
        rows = []
        for k in per_scene[0]:
            by_seed = [
                np.mean([s[k][j][metric] for s in per_scene]) for j in range(len(per_scene[0][k]))
            ]
            rows.append({"tracker": k, metric: mean_sd([float(v) for v in by_seed])})
        results.table(f"Held-out hard scenes, ground-truth boxes: {metric}", rows)


if __name__ == "__main__":
    main()
