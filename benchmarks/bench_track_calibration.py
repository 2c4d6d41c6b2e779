"""Within-camera tracking with the calibrated appearance cue against motion alone.

``mcmot track`` calibrates each camera's appearance cue on its own features
(``mcmot.tracking.calibrate``): a gate from same-frame pairs (different
people) and a weight from how well those pairs separate from sure
consecutive-frame links (same person); weight 0 = motion only. This script
measures, in one run, ``track`` at its defaults with features against
``track --features none`` (the motion-only peer) on the same boxes, for
encoders of several pretraining budgets:

- ``untrained``: a fresh model's weights (same architecture and seed as the
  first budget's run, ``benchmarks.common.untrained_checkpoint``);
- ``pretrain Nmin``: ``mcmot pretrain DEV --minutes N --teacher none
  --preset cpu`` on the development scene (seed ``--pretrain-seed``), for
  each pretraining seed of ``--seeds``;
- with ``--pets-own``, on PETS09 only: ``own footage Nmin seed S``, the same
  command on PETS09 View 1's own video with its public ACF boxes (no
  labels), as a user pretrains on the cameras to be tracked;
- any ``--checkpoint`` given (when the file exists);
- ``colour histogram``: ``extract-features --model histogram``, the
  training-free control (``--minutes ""`` runs it alone, with nothing
  pretrained).

Scenes: ``mcmot synth`` scenes, 4 cameras, 10 people, 200 frames, medium
difficulty. Development scenes (constants were chosen on these):
``--dev-seeds`` (default 101, 102, 201-204) and the pretraining scene 100;
held-out scenes, never looked at while choosing: ``--heldout-seeds`` (default
301-304).
The det files are the ground-truth boxes (score 1) with rows shuffled within
each frame (``numpy.random.default_rng(seed)``). Optionally
PETS09-S2L1 View 1 (``--pets acf,yolo``): the public ACF boxes and our
detector's boxes (``benchmarks.bench_track_pets.yolo_detections``: YOLO11n-pose at imgsz
1440, cached), shuffled the same way, features of each encoder extracted on
the video.

Scores: IDF1, HOTA and ID switches within each camera (``mcmot.metrics``),
pooled over the cameras and scenes of a set. On development scenes,
``--weights`` also tracks at fixed appearance weights (the calibration's
weight replaced) to show what the calibration chooses from.

Run from the project root (about 15 minutes on 2 cores, most of it the 1 + 5
minutes of pretraining and feature extraction; everything is cached in
``--work``)::

    python -m benchmarks.bench_track_calibration --work /tmp/trk --pets acf,yolo [--json PATH]

With ``--minutes 1,5,20 --seeds 0,1 --pets-own`` it pretrains twelve encoders
(about 52 minutes of pretraining per seed).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_track_pets import pets_data, yolo_detections  # noqa: E402
from benchmarks.common import untrained_checkpoint  # noqa: E402
from benchmarks.harness import Results, make_parser, print_machine  # noqa: E402
from mcmot.metrics.clear_id import clear_id_counts  # noqa: E402
from mcmot.metrics.hota import hota_counts  # noqa: E402
from mcmot.metrics.sequence import build_sequence  # noqa: E402
from mcmot.motio import MotTable, read_mot, write_mot  # noqa: E402
from mcmot.scene import Scene  # noqa: E402
from mcmot.stages.feature_files import load_features  # noqa: E402
from mcmot.stages.features import FeaturesConfig, run_extract_features  # noqa: E402
from mcmot.stages.track import calibrate_camera, track_camera  # noqa: E402
from mcmot.synth import SynthConfig, generate_scene  # noqa: E402
from mcmot.tracking import TrackerConfig  # noqa: E402

#: Frame rate of the synthetic scenes (``mcmot synth``'s default). PETS09 runs at the
#: tracker's default (10 frames/s), as in ``bench_track_pets.py``.
SYNTH_FPS = 10.0


def synth_scene(work: Path, seed: int) -> Path:
    """``mcmot synth`` scene ``s<seed>`` (4 cameras, 10 people, 200 frames, medium)."""
    root = work / f"s{seed}"
    if not (root / "gt").is_dir():
        cfg = SynthConfig(cameras=4, people=10, frames=200, seed=seed, difficulty="medium")
        generate_scene(root, cfg, overwrite=True)
    return root


def shuffle_order(det: MotTable, seed: int) -> NDArray[np.int64]:
    """A random order of ``det``'s rows within each frame, frames ascending (fixed rng)."""
    rng = np.random.default_rng(seed)
    return np.lexsort((rng.random(len(det)), det.frames))


def shuffled(det: MotTable, seed: int) -> MotTable:
    """``det`` with its rows in a random order within each frame (fixed rng)."""
    return det.select(shuffle_order(det, seed))


def encoder_scene(
    work: Path, name: str, videos: dict[str, Path], dets: dict[str, MotTable]
) -> Path:
    """A scene folder of links to ``videos`` and the given det files."""
    root = work / "features" / name
    if not (root / "det").is_dir():
        (root / "videos").mkdir(parents=True, exist_ok=True)
        for cam, video in videos.items():
            link = root / "videos" / f"{cam}{video.suffix}"
            if not link.exists():
                link.symlink_to(video.resolve())
            write_mot(root / "det" / f"{cam}.txt", dets[cam])
    return root


def run_name(minutes: float, seed: int) -> str:
    """A pretraining run's folder name (seed 0 keeps the name runs had before seeds)."""
    return f"run{minutes:g}" if seed == 0 else f"run{minutes:g}-seed{seed}"


def pretrained(scene: Path, run: Path, minutes: float, seed: int, boxes: str) -> Path:
    """``mcmot pretrain SCENE --minutes N --teacher none --preset cpu``, once (cached)."""
    if not (run / "checkpoint.pt").is_file():
        cmd = [sys.executable, "-m", "mcmot", "pretrain", str(scene), "--out", str(run)]
        cmd += ["--minutes", f"{minutes:g}", "--seed", str(seed), "--teacher", "none"]
        cmd += ["--preset", "cpu", "--boxes", boxes, "--device", "cpu", "--overwrite"]
        subprocess.run(cmd, check=True)
    return run / "checkpoint.pt"


def pretrained_grid(
    args: argparse.Namespace, scene: Path, folder: Path, name: str, boxes: str
) -> dict[str, Path]:
    """One encoder per budget of ``--minutes`` and seed of ``--seeds``, pretrained on
    ``scene`` into run folders under ``folder``; labelled ``NAME Nmin [seed S]``."""
    out = {}
    for minutes in args.minutes:
        for seed in args.seeds:
            label = f"{name} {minutes:g}min" + (f" seed {seed}" if len(args.seeds) > 1 else "")
            out[label] = pretrained(scene, folder / run_name(minutes, seed), minutes, seed, boxes)
    return out


def checkpoints(args: argparse.Namespace) -> dict[str, Path | str]:
    """The encoders to compare (checkpoints, pretrained on the development scene
    when missing, or the name of a built-in one); none pretrained without ``--minutes``."""
    out: dict[str, Path | str] = {}
    if args.minutes:
        dev = synth_scene(args.work, args.pretrain_seed)
        grid = pretrained_grid(args, dev, args.work, "pretrain", "gt")
        untrained = args.work / "untrained.pt"
        if not untrained.is_file():
            untrained_checkpoint(next(iter(grid.values())), untrained)
        out = {"untrained": untrained, **grid}
    out["colour histogram"] = "histogram"
    for ckpt in args.checkpoint:
        if ckpt.is_file():
            out[f"{ckpt.parent.name} (given)"] = ckpt
        else:
            print(f"note: {ckpt} not found, left out")
    return out


def own_footage_checkpoints(args: argparse.Namespace, pets: Path) -> dict[str, Path]:
    """Encoders pretrained on PETS09 View 1 itself, on its public ACF boxes (rows
    shuffled), without labels: the use the method is made for, a user's
    ``mcmot pretrain`` on the footage of the cameras to be tracked."""
    det = shuffled(read_mot(pets / "det.txt", unique_ids=False), 0)
    video = {"view1": pets / "vtest.avi"}
    scene = encoder_scene(args.work, "pets-own-scene", video, {"view1": det})
    return pretrained_grid(args, scene, args.work / "pets-own", "own footage", "det")


@dataclasses.dataclass
class Score:
    """Pooled counts of one tracker over several cameras."""

    clear: object = None
    hota: object = None
    appearance: list[tuple[float, float]] = dataclasses.field(default_factory=list)

    def add(self, gt: MotTable, pred: MotTable, n_frames: int) -> None:
        seq = build_sequence(gt, pred, 1, n_frames)
        c, h = clear_id_counts(seq), hota_counts(seq)
        self.clear = c if self.clear is None else self.clear + c
        self.hota = h if self.hota is None else self.hota + h

    def row(self) -> tuple[float, float, int]:
        c, h = self.clear.rates(), self.hota.rates()
        return float(c["IDF1"] or 0), float(h["HOTA"] or 0), int(c["IDSW"])


def camera_inputs(
    work: Path, tag: str, scene: Path, ckpt: Path | str, seed: int
) -> list[tuple[str, MotTable, MotTable, np.ndarray, int]]:
    """(camera, gt, shuffled det, features, frames) of one scene with one encoder."""
    gts = {p.stem: read_mot(p) for p in sorted((scene / "gt").glob("*.txt"))}
    dets = {
        c: shuffled(
            MotTable.from_arrays(g.frames, -np.ones(len(g)), g.boxes, np.ones(len(g))), seed
        )
        for c, g in gts.items()
    }
    videos = {c: next((scene / "videos").glob(f"{c}.*")) for c in gts}
    return extract(work, tag, videos, dets, ckpt, gts)


def extract(
    work: Path,
    tag: str,
    videos: dict[str, Path],
    dets: dict[str, MotTable],
    ckpt: Path | str,
    gts: dict[str, MotTable],
) -> list[tuple[str, MotTable, MotTable, np.ndarray, int]]:
    root = encoder_scene(work, tag, videos, dets)
    sc = Scene(root)
    if not sc.stage_dir("features").is_dir():
        run_extract_features(sc, FeaturesConfig(model=str(ckpt), device="cpu"))
    out = []
    for cam, gt in gts.items():
        det = read_mot(root / "det" / f"{cam}.txt", unique_ids=False)
        feats = load_features(root / "features" / f"{cam}.npz", det, "f_s", root)
        out.append((cam, gt, det, feats, int(max(gt.frames.max(), det.frames.max()))))
    return out


def track_all(
    inputs: list[tuple[str, MotTable, MotTable, np.ndarray, int]],
    cfg: TrackerConfig,
    weights: list[float],
    scores: dict[str, Score],
) -> None:
    """Track every camera motion only, with calibrated appearance, and at fixed weights."""
    for _, gt, det, feats, n in inputs:
        scores.setdefault("motion only (--features none)", Score()).add(
            gt, track_camera(det, None, n, cfg), n
        )
        _, calib = calibrate_camera(cfg, det, feats)
        s = scores.setdefault("f_s, calibrated (default)", Score())
        s.add(gt, track_camera(det, feats, n, cfg), n)
        s.appearance.append((calib.auc, calib.weight))
        for w in weights:
            fixed = dataclasses.replace(cfg, appearance_weight=w)
            scores.setdefault(f"f_s, weight fixed {w:g}", Score()).add(
                gt, track_camera(det, feats, n, fixed), n
            )


def report(title: str, scores: dict[str, Score], results: Results) -> None:
    base = scores["motion only (--features none)"].row()
    rows = []
    for name, s in scores.items():
        idf1, hota, idsw = s.row()
        cal = ""
        if s.appearance:
            auc, w = np.array(s.appearance).T
            off = int(np.sum(w == 0))
            cal = f"AUC {auc.min():.3f}-{auc.max():.3f}, weight {w.min():.2f}-{w.max():.2f}"
            cal += f", off in {off} of {len(w)} cameras"
        rows.append(
            {"tracker": name, "IDF1": idf1, "HOTA": hota, "IDSW": idsw,
             "IDF1 vs motion only": idf1 - base[0], "HOTA vs motion only": hota - base[1],
             "calibration": cal}
        )  # fmt: skip
    delta = {"IDF1 vs motion only": "+.3f", "HOTA vs motion only": "+.3f"}
    results.table(title, rows, delta)


def track_pets(
    work: Path,
    pets: Path,
    sources: list[str],
    cache_dir: Path,
    ckpts: dict[str, Path | str],
    results: Results,
) -> None:
    """PETS09-S2L1 View 1 with each source's boxes, shuffled, tracked with each encoder."""
    gt = read_mot(pets / "gt.txt")
    for source in sources:
        if source == "acf":
            boxes = read_mot(pets / "det.txt", unique_ids=False)
        else:
            boxes = yolo_detections(pets / "vtest.avi", cache_dir, 795)
        det = shuffled(boxes, 0)
        for enc, ckpt in ckpts.items():
            prefix = "pets" if source == "acf" else f"pets-{source}"
            inputs = extract(
                work,
                f"{prefix}-{enc.replace(' ', '_')}",
                {"view1": pets / "vtest.avi"},
                {"view1": det},
                ckpt,
                {"view1": gt},
            )
            scores: dict[str, Score] = {}
            track_all(inputs, TrackerConfig(), [], scores)
            title = f"PETS09-S2L1 View 1, {source} boxes ({len(det)}), encoder {enc}"
            report(title, scores, results)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-track-calibration"))
    ap.add_argument("--pretrain-seed", type=int, default=100)
    ap.add_argument("--dev-seeds", default="101,102,201,202,203,204")
    ap.add_argument("--heldout-seeds", default="301,302,303,304")
    ap.add_argument(
        "--minutes", default="1,5", help='pretraining budgets (comma-separated; "": none)'
    )
    ap.add_argument("--seeds", default="0", help="pretraining seeds (comma-separated)")
    ap.add_argument("--checkpoint", type=Path, action="append", default=[])
    ap.add_argument("--sets", default="dev,heldout", help="dev, heldout (comma-separated)")
    ap.add_argument("--weights", default="0,0.5,1", help="fixed weights tried on dev scenes")
    ap.add_argument(
        "--pets",
        default="",
        help="also PETS09-S2L1 View 1 with these boxes: acf (MOT15 public), yolo (our "
        "detector, as in bench_track_pets.py; detected once and cached), comma-separated",
    )
    ap.add_argument(
        "--pets-own",
        action="store_true",
        help="on PETS09 also encoders pretrained on its own video (ACF boxes, no labels), "
        "for every budget and seed",
    )
    ap.add_argument("--cache-dir", type=Path, default=Path("/tmp/mcmot_track_bench"))
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    sources = [s for s in args.pets.split(",") if s]
    pets = pets_data() if sources else None  # checked before the long work
    args.minutes = [float(m) for m in args.minutes.split(",") if m]
    args.seeds = [int(s) for s in args.seeds.split(",")]
    torch.set_num_threads(1)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    results = Results(args.json)
    print_machine()
    print(
        f"pretraining scene: seed {args.pretrain_seed}; development seeds {args.dev_seeds}; "
        f"held-out seeds {args.heldout_seeds}; scenes 4 cameras x 200 frames, 10 people, medium"
    )
    ckpts = checkpoints(args)
    weights = [float(w) for w in args.weights.split(",") if w]
    sets = {"dev": args.dev_seeds, "heldout": args.heldout_seeds}
    for set_name in [s for s in args.sets.split(",") if s]:
        seeds = [int(s) for s in sets[set_name].split(",")]
        for enc, ckpt in ckpts.items():
            scores: dict[str, Score] = {}
            rows = 0
            for seed in seeds:
                scene = synth_scene(args.work, seed)
                tag = f"s{seed}-{enc.replace(' ', '_')}"
                inputs = camera_inputs(args.work, tag, scene, ckpt, seed)
                rows += sum(len(d) for _, _, d, _, _ in inputs)
                cfg = TrackerConfig(fps=SYNTH_FPS)
                track_all(inputs, cfg, weights if set_name == "dev" else [], scores)
            title = f"{set_name} seeds {sets[set_name]} ({rows} boxes), encoder {enc}"
            report(title, scores, results)
    if pets is not None:
        if args.pets_own:
            ckpts = {**ckpts, **own_footage_checkpoints(args, pets)}
        track_pets(args.work, pets, sources, args.cache_dir, ckpts, results)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    shutil.rmtree(args.work / "tmp", ignore_errors=True)


if __name__ == "__main__":
    main()
