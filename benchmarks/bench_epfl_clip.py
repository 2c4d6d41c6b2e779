"""CalibFree on real multi-camera footage: the EPFL terrace1 clip, scored against its ground truth.

The clip (``epfl-terrace1-clip``: 4 views, 125 frames = frames 2000-2124 of
terrace1) is the only labelled real footage (``benchmarks/data/epfl-terrace1-clip/gt``),
so it is a test set: every stage runs with its defaults and nothing is chosen on it.

1. **Pretraining on real video** (``mcmot pretrain``, ``cpu`` preset, no teacher, a
   wall-clock budget per model): on terrace1 with the clip's frames 2000-2124 cut
   out (their det/ rows are dropped, so no crop of those frames is made; a
   timestep is one instant, so the two remaining parts need no other separation;
   the crop cache is checked afterwards), one run per seed; on campus4; on a
   synthetic ``mcmot synth`` scene (ground-truth boxes).
2. **Cross-view top-1 retrieval of f_a** at the same instant, on the clip's
   ground-truth boxes with the rows of every det/ file in random order within
   each frame (``bench_crossview_retrieval``'s scoring and controls).
3. **Per-camera tracking** (``mcmot track``: motion only and with f_s; ultralytics
   ByteTrack and BoT-SORT on the same boxes), scored with ``mcmot evaluate
   --pred tracks``.
4. **Cross-camera association** (``mcmot associate --cues geometry|appearance|both``),
   scored with ``mcmot evaluate``; on detector boxes and on ground-truth boxes.

Usage::

    python -m benchmarks.bench_epfl_clip --work /tmp/epfl-clip --minutes 8 \\
        --det-from /tmp/epfl --reuse [--json PATH]

``--det-from DIR`` reuses ``DIR/<sequence>/det/`` written by ``mcmot detect`` with
its defaults (checked in ``provenance/detect.json``) for the long training
sequences instead of detecting again (12-15 minutes each on 2 cores).
Prints the machine, the inputs, the training runs and the tables.
"""

from __future__ import annotations

import argparse
import json
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_crossview_retrieval import colour_histogram, slot_features, top1
from benchmarks.bench_track_calibration import shuffle_order
from benchmarks.common import untrained_checkpoint
from benchmarks.harness import Results, data_or_exit, make_parser, print_machine
from mcmot.motio import MotTable, read_mot, write_mot

GT = Path(__file__).resolve().parent / "data" / "epfl-terrace1-clip" / "gt"
#: Frames of terrace1 that the clip holds (its frame 1 is the sequence's frame 2000).
CLIP_FRAMES = (2000, 2124)
#: ``mcmot detect``'s defaults, as its provenance records them.
DETECT_DEFAULTS = {"weights": None, "imgsz": None, "conf": 0.25, "iou": 0.7, "from_gt": False}
SEQUENCES = ("epfl-terrace1", "epfl-campus4", "epfl-terrace1-clip")
#: The per-camera tracking columns of the report.
TRACK_METRICS = ("IDF1", "HOTA", "MOTA", "IDSW", "FP", "FN")


def sh(cmd: list[str], timeout: float, log: list[str], stderr: bool = False) -> str:
    """Run one command, recording it; its stdout (and stderr) returned, a failure stops all."""
    log.append(shlex.join(cmd))
    print("$ " + shlex.join(cmd), flush=True)
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        sys.exit(f"failed ({done.returncode}): {shlex.join(cmd)}\n{done.stderr[-3000:]}")
    return done.stdout + (done.stderr if stderr else "")


def said(text: str, *starts: str) -> str:
    """The lines of a command's output that contain one of ``starts``, joined."""
    return "; ".join(ln.strip() for ln in text.splitlines() if any(s in ln for s in starts))


def associate(scene: Path, cues: str, timeout: float, log: list[str]) -> dict[str, object]:
    """``mcmot associate --cues`` then ``mcmot evaluate``; with what associate said."""
    cmd = mcmot("associate", scene, "--cues", cues, "--overwrite")
    text = sh(cmd, timeout, log, stderr=True)
    return {**evaluate(scene, "global", log), "said": said(text, "identities", "appearance:")}


def mcmot(*args: str | Path) -> list[str]:
    return [sys.executable, "-m", "mcmot", *map(str, args)]


# ----------------------------------------------------------------- inputs
def drop_frames(det: MotTable, first: int, last: int) -> MotTable:
    """The rows of ``det`` outside frames ``first..last`` (inclusive)."""
    keep = (det.frames < first) | (det.frames > last)
    return det.select(np.flatnonzero(keep))


def shuffle_within_frames(table: MotTable, seed: int) -> tuple[MotTable, NDArray[np.int64]]:
    """``table``'s rows in random order within each frame (frames ascending), and the order."""
    order = shuffle_order(table, seed)
    return table.select(order), order


def check_from_gt(det: MotTable, gt: MotTable) -> None:
    """``detect --from-gt`` must keep every box and no identity (ids -1, score 1)."""
    if len(det) != len(gt) or np.any(det.ids != -1) or np.any(det.scores != 1):
        sys.exit("detect --from-gt did not write one id-free row per gt row")
    for f, sl in gt.frame_slices().items():
        a = np.sort(gt.boxes[sl].round(2), axis=0)
        b = np.sort(det.boxes[det.frames == f].round(2), axis=0)
        if a.shape != b.shape or not np.array_equal(a, b):
            sys.exit(f"detect --from-gt changed the boxes of frame {f}")


def ids_of_rows(det: MotTable, gt: MotTable) -> NDArray[np.int64]:
    """The gt identity of every det row (the gt row with the same frame and box)."""
    out = np.zeros(len(det), np.int64)
    slices = gt.frame_slices()
    for r in range(len(det)):
        sl = slices[int(det.frames[r])]
        d = np.abs(gt.boxes[sl] - det.boxes[r]).sum(1)
        out[r] = gt.ids[sl][int(np.argmin(d))]
    return out


def det_provenance_ok(scene: Path) -> bool:
    p = scene / "provenance" / "detect.json"
    if not p.is_file():
        return False
    params = json.loads(p.read_text())["params"]
    return all(params.get(k) == v for k, v in DETECT_DEFAULTS.items())


def copy_videos(src: Path, dst: Path) -> None:
    (dst / "videos").mkdir(parents=True, exist_ok=True)
    for v in sorted((src / "videos").iterdir()):
        if not (dst / "videos" / v.name).is_file():
            shutil.copy2(v, dst / "videos" / v.name)


def training_scene(
    data: Path, name: str, work: Path, det_from: Path | None, log: list[str], timeout: float
) -> Path:
    """A copy of a long sequence with default detections; terrace1 without the clip's frames."""
    out = work / f"train-{name}"
    if (out / "det").is_dir():
        return out
    copy_videos(data / name, out)
    src = det_from / name if det_from is not None else None
    if src is not None and (src / "det").is_dir() and det_provenance_ok(src):
        staged = work / f"detect-{name}"
        shutil.copytree(src / "det", staged / "det", dirs_exist_ok=True)
        print(f"{name}: det/ reused from {src} (detect defaults, provenance checked)")
    else:
        staged = work / f"detect-{name}"
        copy_videos(data / name, staged)
        sh(mcmot("detect", staged), timeout, log)
    (out / "det").mkdir(exist_ok=True)
    for p in sorted((staged / "det").glob("*.txt")):
        det = read_mot(p, unique_ids=False)
        if name == "epfl-terrace1":
            det = drop_frames(det, *CLIP_FRAMES)
        write_mot(out / "det" / p.name, det)
    return out


def clip_scene(data: Path, work: Path, boxes: str, log: list[str], timeout: float) -> Path:
    """The clip with gt/ and det/: detector boxes (``det``) or shuffled gt boxes (``gt``)."""
    out = work / f"clip-{boxes}"
    if (out / "ids.npz").is_file() or (boxes == "det" and (out / "det").is_dir()):
        return out
    copy_videos(data / "epfl-terrace1-clip", out)
    shutil.copytree(GT, out / "gt", dirs_exist_ok=True)
    if boxes == "det":
        sh(mcmot("detect", out, "--overwrite"), timeout, log)
        return out
    sh(mcmot("detect", out, "--from-gt", "--overwrite"), timeout, log)
    ids = {}
    for k, p in enumerate(sorted((out / "det").glob("*.txt"))):
        gt = read_mot(out / "gt" / p.name, unique_ids=False)
        det = read_mot(p, unique_ids=False)
        check_from_gt(det, gt)
        det, _ = shuffle_within_frames(det, seed=1000 + k)
        write_mot(p, det)
        ids[p.stem] = ids_of_rows(det, gt)
    np.savez(out / "ids.npz", **ids)
    return out


def scene_copy(src: Path, dst: Path) -> Path:
    """A fresh copy of a clip scene's inputs (videos, gt, det, ids) for one model's runs."""
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for sub in ("videos", "gt", "det"):
        shutil.copytree(src / sub, dst / sub)
    if (src / "ids.npz").is_file():
        shutil.copy2(src / "ids.npz", dst / "ids.npz")
    return dst


# ----------------------------------------------------------------- pretraining
def pretrain(
    scene: Path, run: Path, minutes: float, seed: int, boxes: str, log: list[str]
) -> dict[str, object]:
    """``mcmot pretrain`` once (skipped when ``run/done.json`` exists); its summary."""
    done = run / "done.json"
    if not done.is_file():
        t0 = time.perf_counter()
        cmd = mcmot(
            "pretrain", scene, "--out", run, "--minutes", f"{minutes:g}", "--teacher", "none",
            "--seed", str(seed), "--boxes", boxes, "--overwrite",
        )  # fmt: skip
        sh(cmd, minutes * 60 + 900, log)
        done.write_text(json.dumps({"wall_s": time.perf_counter() - t0, "command": cmd[2:]}))
    info = json.loads(done.read_text())
    return {**info, **curve(run / "log.jsonl")}


def curve(path: Path, span: int = 20) -> dict[str, object]:
    """Steps, epochs, timesteps/s and the loss averaged over the first, middle and last ``span``."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    loss = np.array([r["loss"] for r in rows])
    mid = len(rows) // 2
    return {
        "steps": len(rows),
        "epochs": rows[-1]["epoch"],
        "rate": float(np.median([r["samples_per_s"] for r in rows])),
        "loss_start": float(loss[:span].mean()),
        "loss_mid": float(loss[max(0, mid - span // 2) : mid + span // 2].mean()),
        "loss_end": float(loss[-span:].mean()),
    }


def cached_frames(run: Path) -> NDArray[np.int64]:
    """Every frame the run's crop cache holds a timestep of."""
    frames = [np.load(p)["frames"] for p in sorted((run / "cache").glob("crops-*.npz"))]
    return np.concatenate(frames) if frames else np.zeros(0, np.int64)


# ----------------------------------------------------------------- scoring
def features(scene: Path, key: str) -> dict[str, NDArray[np.float32]]:
    out = {}
    for p in sorted((scene / "features").glob("*.npz")):
        with np.load(p) as z:
            out[p.stem] = z[key]
    return out


def evaluate(scene: Path, pred: str, log: list[str]) -> dict[str, float]:
    got = json.loads(sh(mcmot("evaluate", scene, "--pred", pred, "--json"), 600, log))
    return got["combined"]


def ultralytics_tracks(scene: Path, kind: str) -> None:
    """ByteTrack or BoT-SORT (ultralytics' defaults, bench_track_pets) on every camera's det/."""
    from benchmarks.bench_track_pets import run_ultralytics

    (scene / "tracks").mkdir(exist_ok=True)
    for p in sorted((scene / "det").glob("*.txt")):
        det = read_mot(p, unique_ids=False)
        order = np.lexsort((det.boxes[:, 0], det.frames))
        out = run_ultralytics(kind, det.select(order), int(det.frames.max()))
        write_mot(scene / "tracks" / p.name, out)


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    ap.add_argument("--work", type=Path, default=Path("/tmp/mcmot-epfl-clip"))
    ap.add_argument("--data", type=Path, default=None, help="the shared data folder")
    ap.add_argument("--det-from", type=Path, help="folder of <sequence>/det/ to reuse")
    ap.add_argument("--minutes", type=float, default=8.0, help="pretraining budget per model")
    ap.add_argument("--seeds", default="0,1", help="pretraining seeds on terrace1")
    ap.add_argument("--skip", default="", help="comma list of: campus4, synth, ultralytics")
    ap.add_argument("--stop-after", choices=("inputs", "pretrain"), help="stop after a step")
    ap.add_argument("--timeout", type=float, default=1800, help="seconds per stage command")
    ap.add_argument("--reuse", action="store_true", help="skip steps whose outputs exist")
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    args.data = data_or_exit(args.data)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    work: Path = args.work
    if work.exists() and not args.reuse:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    log: list[str] = []
    results = Results(args.json)
    print_machine()

    # -- inputs
    t0 = time.perf_counter()
    train = {"terrace1": training_scene(args.data, "epfl-terrace1", work, args.det_from, log,
                                        args.timeout)}  # fmt: skip
    if "campus4" not in skip:
        train["campus4"] = training_scene(
            args.data, "epfl-campus4", work, args.det_from, log, args.timeout
        )
    if "synth" not in skip and not (work / "train-synth" / "gt").is_dir():
        sh(mcmot("synth", work / "train-synth", "--cameras", "4", "--people", "8", "--frames",
                 "300", "--size", "360x288", "--fps", "25", "--seed", "5", "--difficulty",
                 "medium", "--overwrite"), args.timeout, log)  # fmt: skip
    if "synth" not in skip:
        train["synth"] = work / "train-synth"
    clips = {b: clip_scene(args.data, work, b, log, args.timeout) for b in ("gt", "det")}
    print(f"inputs ready in {time.perf_counter() - t0:.0f}s")
    for name, scene in {**train, **{f"clip-{b}": s for b, s in clips.items()}}.items():
        src = "gt" if name == "synth" else "det"
        tabs = [read_mot(p, unique_ids=False) for p in sorted((scene / src).glob("*.txt"))]
        frames = sorted({int(f) for t in tabs for f in np.unique(t.frames)})
        print(
            f"  {name}: {len(tabs)} cameras, {src}/ rows {sum(len(t) for t in tabs)}, "
            f"frames with boxes {len(frames)} ({frames[0]}-{frames[-1]})"
        )
    if args.stop_after == "inputs":
        return

    # -- pretraining
    runs: dict[str, Path] = {}
    summaries: dict[str, dict[str, object]] = {}
    plan = [(f"terrace1 seed {s}", train["terrace1"], int(s), "det") for s in args.seeds.split(",")]
    if "campus4" in train:
        plan.append(("campus4 seed 0", train["campus4"], 0, "det"))
    if "synth" in train:
        plan.append(("synthetic seed 0", train["synth"], 0, "gt"))
    for label, scene, seed, boxes in plan:
        run = work / ("run-" + label.replace(" ", "-"))
        summaries[label] = pretrain(scene, run, args.minutes, seed, boxes, log)
        runs[label] = run / "checkpoint.pt"
        if label.startswith("terrace1"):
            got = cached_frames(run)
            leak = int(np.sum((got >= CLIP_FRAMES[0]) & (got <= CLIP_FRAMES[1])))
            print(f"{label}: {len(got)} timesteps cached, {leak} inside frames 2000-2124")
            if leak:
                sys.exit("the clip's frames reached pretraining")
    results.table(
        "pretraining (cpu preset, teacher none; loss = mean of 20 steps)",
        [
            {"model": label, "budget": f"{args.minutes:g}m", "wall s": s["wall_s"],
             "steps": s["steps"], "epochs": s["epochs"], "ts/s": s["rate"],
             "start": s["loss_start"], "middle": s["loss_mid"], "end": s["loss_end"]}
            for label, s in summaries.items()
        ],
        {"wall s": ".0f", "epochs": ".2f", "ts/s": ".1f"},
    )  # fmt: skip
    if args.stop_after == "pretrain":
        return
    main_scoring(args, work, clips, runs, skip, log, results)


def main_scoring(
    args: argparse.Namespace, work: Path, clips: dict[str, Path], runs: dict[str, Path],
    skip: set[str], log: list[str], results: Results,
) -> None:  # fmt: skip
    """Steps 2-4 (retrieval, tracking, association), each model in its own scene copy."""
    blank = untrained_checkpoint(runs["terrace1 seed 0"], work / "untrained-seed0.pt")
    models = {"untrained encoder (seed 0)": blank}
    models.update({f"CalibFree {k}": v for k, v in runs.items()})
    models["colour histogram (--model histogram)"] = "histogram"
    results_path = work / "results.json"
    res: dict[str, dict] = json.loads(results_path.read_text()) if results_path.is_file() else {}

    def save() -> None:
        results_path.write_text(json.dumps(res, indent=1))

    # retrieval controls
    gt_scene = clips["gt"]
    if "retrieval" not in res:
        r = {}
        hits, q, chance = top1(gt_scene, slot_features(gt_scene, by_box=False), slot=True)
        r["chance"] = (chance / q, q)
        r["slot-only control (nearest row position)"] = (hits / q, q)
        hits, q, _ = top1(gt_scene, slot_features(gt_scene, by_box=True), slot=True)
        r["box-rank control (nearest left-to-right rank)"] = (hits / q, q)
        hits, q, _ = top1(gt_scene, colour_histogram(gt_scene))
        r["colour histogram (upper+lower RGB)"] = (hits / q, q)
        res["retrieval"] = r
        save()

    # per model: features on both box sets, retrieval, tracking with f_s, association
    for label, ckpt in models.items():
        for boxes, src in clips.items():
            key = f"{label} | {boxes}"
            if key in res:
                continue
            slug = "-".join(label.replace("(", "").replace(")", "").split())
            scene = scene_copy(src, work / "scored" / f"{boxes}-{slug}")
            sh(mcmot("extract-features", scene, "--model", ckpt), args.timeout, log)
            out: dict[str, object] = {}
            if boxes == "gt":
                hits, q, _ = top1(scene, features(scene, "f_a"))
                out["top1"] = (hits / q, q)
            sh(mcmot("track", scene), args.timeout, log)
            out["track f_s"] = evaluate(scene, "tracks", log)
            for cues in ("geometry", "appearance", "both"):
                out[f"associate {cues}"] = associate(scene, cues, args.timeout, log)
            res[key] = out
            save()

    # motion-only and the ultralytics trackers, on both box sets (no features)
    trackers = ["motion"] + ([] if "ultralytics" in skip else ["bytetrack", "botsort"])
    for boxes, src in clips.items():
        for kind in trackers:
            key = f"{kind} | {boxes}"
            if key in res:
                continue
            scene = scene_copy(src, work / "scored" / f"{boxes}-{kind}")
            if kind == "motion":
                sh(mcmot("track", scene, "--features", "none"), args.timeout, log)
            else:
                t0 = time.perf_counter()
                ultralytics_tracks(scene, kind)
                log.append(
                    f"# {kind}: ultralytics on {scene}/det in {time.perf_counter() - t0:.1f}s"
                )
            out = {"track": evaluate(scene, "tracks", log)}
            out["associate geometry"] = associate(scene, "geometry", args.timeout, log)
            res[key] = out
            save()
    report(res, results)


def report(res: dict[str, dict], results: Results) -> None:
    """The tables."""
    retrieval = [
        {"features": name, "top-1": acc, "queries": q}
        for name, (acc, q) in res["retrieval"].items()
    ]
    retrieval += [
        {"features": key.split(" | ")[0] + " f_a", "top-1": out["top1"][0], "queries": None}
        for key, out in res.items()
        if "top1" in out
    ]
    title = "cross-view top-1 retrieval at the same instant (gt boxes, rows shuffled within frames)"
    results.table(title, retrieval)
    for boxes in ("det", "gt"):
        tracking, association = [], []
        for key, out in res.items():
            if not key.endswith(f"| {boxes}") or key == "retrieval":
                continue
            t = out.get("track f_s") or out.get("track")
            name = key.split(" | ")[0] + (" (f_s)" if "track f_s" in out else "")
            tracking.append({"tracker": name, **{m: t[m] for m in TRACK_METRICS}})
            association += [
                {"model": f"{key.split(' | ')[0]}, {k.split()[1]}", "AIDF1": v["AIDF1"],
                 "MHAA": v["MHAA"], "associate said": v["said"]}
                for k, v in out.items()
                if k.startswith("associate")
            ]  # fmt: skip
        results.table(f"per-camera tracking ({boxes} boxes)", tracking)
        results.table(f"cross-camera association ({boxes} boxes)", association)


if __name__ == "__main__":
    main()
