"""Appearance beside the learned geometry: geometry alone, both cues, appearance alone.

The scenes and tracks of ``bench_geometry_synth.py`` (development seeds 7301
and up, held-out 9401 and up with ``--seed 9401``; ``--boxes gt``: the ground
truth with local identities, fragmented; ``--boxes det``: the motion-only
tracker on the shipped detector's boxes). Each ``--features`` model
(``histogram``, or a checkpoint of ``mcmot pretrain``) is extracted once per
scene into a folder beside it (pixels and ``gt/`` linked). With ground-truth
tracks, ``det/`` holds the track rows in random order within each frame, so
no feature can read an identity from the row order.

``--features oracle:S`` (ground-truth tracks only) is a label-using
diagnostic of the fusion, not a method: each row's feature is its true
identity's random unit vector, plus a view bias (a random unit vector per
identity and camera, the same in every frame: how differently a person
looks from another camera) times S, plus noise per row (std 0.5 in all).
It shows what association makes of appearance of a known quality. With
ground-truth tracks the table also gives each features model's cross-view
top-1: of the rows whose person another camera sees at that frame, the
share whose most similar row there is that person, on the features as
association compares them (each camera's mean feature removed; with
``--no-centre`` association and top-1 use the features as extracted).

For every RANSAC seed the geometry is fitted once per scene (``--cues
geometry``) and given to every model's ``--cues both`` (``--geometry``), so
the rows compare the cues on one geometry. ``--cues appearance`` does not
depend on the seed and runs once. Reported per difficulty and row: AIDF1 and
MHAA pooled over the scenes (mean and range over the RANSAC seeds), and the
appearance weights association calibrated (mean over scenes, where it
decides with geometry / alone).

Run: ``python -m benchmarks.bench_geometry_cues --work W --features histogram
[--features RUN/checkpoint.pt] [--difficulties medium,hard] [--boxes gt|det]
[--seed 9401] [--geo-seeds 2] [--no-centre] [--json PATH]``
"""

from __future__ import annotations

import argparse
import dataclasses
import shutil
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks.bench_geometry_synth import add_scene_options, scenes_by_difficulty, scenes_line
from benchmarks.common import camera_centred_rows, crossview_top1, label_detections, variant
from benchmarks.harness import Results, make_parser, print_machine
from benchmarks.simulate import id_features
from mcmot.association.config import AssociateConfig, GeometryConfig
from mcmot.metrics.crossview import combine_crossview, crossview_counts
from mcmot.motio import read_mot, write_mot
from mcmot.stages.associate import AssociateResult, run_associate
from mcmot.stages.features import FeaturesConfig, run_extract_features

#: The file in a features folder that names the model its features came from.
MODEL_STAMP = "features-model.txt"
#: Dimension and per-row noise (std, in all) of the ``oracle:S`` features.
ORACLE_DIM, ORACLE_ROW_NOISE = 64, 0.5


def label_of(model: str) -> str:
    """A short name of a features model: ``histogram``, or the checkpoint's run folder."""
    path = Path(model)
    return path.parent.name if path.suffix == ".pt" else model


def features_scene(root: Path, model: str) -> Path:
    """A folder beside ``root`` with its tracks, det rows and ``model``'s features
    (reused when it holds features of the same model)."""
    out = root.parent / f"{root.name}-features-{label_of(model)}"
    stamp = out / MODEL_STAMP
    if stamp.is_file() and stamp.read_text() == model and (out / "features").is_dir():
        return out
    scene = variant(root, out)
    shutil.copytree(root / "tracks", out / "tracks", dirs_exist_ok=True)
    if (root / "det").is_dir():
        shutil.copytree(root / "det", out / "det", dirs_exist_ok=True)
    else:
        rng = np.random.default_rng(0)
        for path in sorted((root / "tracks").glob("*.txt")):
            t = read_mot(path)
            det = t.with_ids(np.full(len(t), -1)).select(rng.permutation(len(t)))
            write_mot(out / "det" / path.name, det)
    if model.startswith("oracle:"):
        oracle_features(out, float(model.split(":", 1)[1]))
    else:
        run_extract_features(scene, FeaturesConfig(model=model), overwrite=True)
    stamp.write_text(model)
    return out


def true_ids(root: Path, cam: str) -> np.ndarray:
    """(N,) the ground-truth identity of each det row of ``cam`` (one-to-one by IoU,
    :func:`benchmarks.common.label_detections`), -1 where none matches."""
    det, gt = read_mot(root / "det" / f"{cam}.txt"), read_mot(root / "gt" / f"{cam}.txt")
    return label_detections(det, gt)


def oracle_features(root: Path, sigma: float) -> None:
    """``features/`` of the ``oracle:S`` diagnostic (see the module docstring)."""
    rng = np.random.default_rng(0)
    (root / "features").mkdir(exist_ok=True)
    for k, path in enumerate(sorted((root / "det").glob("*.txt"))):
        det, ids = read_mot(path), true_ids(root, path.stem)
        f = id_features(ids, ORACLE_DIM, 0.0, rng) + sigma * id_features(
            ids, ORACLE_DIM, 0.0, rng, seed=k + 1
        )
        f += ORACLE_ROW_NOISE / np.sqrt(ORACLE_DIM) * rng.standard_normal(f.shape)
        f = f.astype(np.float32)
        np.savez(
            root / "features" / f"{path.stem}.npz", f_a=f, f_s=f, frames=det.frames, boxes=det.boxes
        )


def top1(roots: list[Path], centre: bool) -> float:
    """Cross-view top-1 of ``f_a`` (rows L2-normalised; with ``centre``, each camera's
    mean row removed first, as association does) over ``roots``, pooled
    (:func:`benchmarks.common.crossview_top1`)."""
    hits = queries = 0
    for root in roots:
        cams = sorted(p.stem for p in (root / "det").glob("*.txt"))
        frames = {c: read_mot(root / "det" / f"{c}.txt").frames for c in cams}
        feats = {}
        for c in cams:
            with np.load(root / "features" / f"{c}.npz") as z:
                f = z["f_a"].astype(np.float64)
            unit = f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)
            feats[c] = camera_centred_rows(f) if centre else unit
        h, q, _ = crossview_top1(frames, {c: true_ids(root, c) for c in cams}, feats)
        hits, queries = hits + h, queries + q
    return hits / max(queries, 1)


def score(root: Path, frames: int) -> object:
    """Cross-view counts of ``root``'s ``global/`` against its ``gt/``."""
    gt_paths = sorted((root / "gt").glob("*.txt"))
    gts = [read_mot(p) for p in gt_paths]
    preds = [read_mot(root / "global" / p.name) for p in gt_paths]
    return crossview_counts(list(zip(gts, preds, strict=True)), 1, frames)


def weights(res: AssociateResult) -> tuple[float, float]:
    """(weight with geometry, weight alone) that association gave appearance."""
    m = res.appearance
    if m is None:
        return 0.0, 0.0
    return m.weight, m.weight_alone


def difficulty_rows(
    subset: list[tuple[str, Path]], models: list[str], args: argparse.Namespace
) -> list[dict[str, object]]:
    """Every row of one difficulty's scenes."""
    fscenes = {m: [features_scene(root, m) for _, root in subset] for m in models}
    base = AssociateConfig(centre_features=not args.no_centre)
    per_seed: dict[tuple[str, str], list[dict]] = {}
    weight_sums: dict[str, list[tuple[float, float]]] = {m: [] for m in models}
    for k in range(args.geo_seeds):
        geo = dataclasses.replace(base, cues="geometry", geometry=GeometryConfig(seed=k))
        counts: dict[tuple[str, str], list] = {}
        for s, (_, root) in enumerate(subset):
            run_associate(root, geo, overwrite=True)
            counts.setdefault(("-", "geometry"), []).append(score(root, args.frames))
            both = dataclasses.replace(base, geometry_path=str(root / "geometry.json"))
            for m in models:
                fs = fscenes[m][s]
                res = run_associate(fs, both, overwrite=True)
                counts.setdefault((label_of(m), "both"), []).append(score(fs, args.frames))
                weight_sums[m].append(weights(res))
        for key, c in counts.items():
            per_seed.setdefault(key, []).append(combine_crossview(c))
    for m in models:
        alone = dataclasses.replace(base, cues="appearance")
        c = []
        for fs in fscenes[m]:
            run_associate(fs, alone, overwrite=True)
            c.append(score(fs, args.frames))
        per_seed[(label_of(m), "appearance")] = [combine_crossview(c)]
    rows = []
    for (features, cues), runs in per_seed.items():
        aidf1 = [r["AIDF1"] for r in runs]
        row = {
            "difficulty": subset[0][0].split("-")[0], "features": features, "cues": cues,
            "AIDF1": float(np.mean(aidf1)), "AIDF1 range": f"{min(aidf1):.3f}-{max(aidf1):.3f}",
            "MHAA": float(np.mean([r["MHAA"] for r in runs])),
        }  # fmt: skip
        model = next((m for m in models if label_of(m) == features), None)
        if cues == "appearance" and args.boxes == "gt" and model is not None:
            row["top-1"] = top1(fscenes[model], not args.no_centre)
        if cues == "both" and model is not None:
            w = np.array(weight_sums[model])
            row["weight with geometry"], row["weight alone"] = w.mean(axis=0).tolist()
        rows.append(row)
    return rows


def build_parser() -> argparse.ArgumentParser:
    ap = make_parser(__doc__)
    add_scene_options(ap)
    ap.add_argument(
        "--features", action="append", required=True, metavar="MODEL",
        help="histogram, a checkpoint or oracle:S (repeatable)",
    )  # fmt: skip
    ap.add_argument("--geo-seeds", type=int, default=2, help="RANSAC seeds")
    ap.add_argument(
        "--no-centre", action="store_true",
        help="compare the features as extracted (association's centre_features=false)",
    )  # fmt: skip
    return ap


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.boxes == "det" and any(m.startswith("oracle:") for m in args.features):
        raise SystemExit("--features oracle:S needs --boxes gt (true identities of the rows)")
    print_machine()
    centring = "features as extracted" if args.no_centre else "each camera's mean feature removed"
    print(f"{scenes_line(args)}; features: {', '.join(args.features)}; {centring}")
    results = Results(args.json)
    rows: list[dict[str, object]] = []
    for _, subset in scenes_by_difficulty(args):
        rows += difficulty_rows(subset, args.features, args)
    formats = {"weight with geometry": ".2f", "weight alone": ".2f", "top-1": ".3f"}
    results.table("cues", rows, formats)


if __name__ == "__main__":
    main()
