"""The ``evaluate`` stage: compare predictions with ground truth, per camera, scene and overall.

Loading is separate from computing:

1. :func:`load_scene` reads a scene's ``gt/`` and prediction files
   (``global/`` or ``tracks/``), checks them, and fixes the frame range;
2. :func:`compute_scene` computes the over-time counts per camera and the
   cross-view counts of the scene;
3. :func:`combine` pools scenes; :func:`summary` turns counts into the
   reported metrics.

:func:`run_evaluate` does all three for several scenes and writes
``eval.json`` into each. See ``docs/metrics.md`` for the metrics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcmot.atomic import write_json
from mcmot.config import to_dict
from mcmot.errors import McmotError
from mcmot.metrics.clear_id import ClearIdCounts, clear_id_counts
from mcmot.metrics.crossview import CrossViewCounts, combine_crossview, crossview_counts
from mcmot.metrics.hota import HotaCounts, hota_counts
from mcmot.metrics.sequence import build_sequence
from mcmot.motio import MotTable, describe_repeats, read_mot, read_truth
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.scene import Scene

#: The keys of every summary, in this order (``--json`` prints exactly these).
KEYS = (
    "IDP",
    "IDR",
    "IDF1",
    "MOTA",
    "MOTP",
    "HOTA",
    "DetA",
    "AssA",
    "FP",
    "FN",
    "IDSW",
    "AIDP",
    "AIDR",
    "AIDF1",
    "MHAA",
    "A",
    "F",
)
PRED_STAGES = ("global", "tracks")


@dataclass(frozen=True)
class EvaluateConfig:
    """Parameters of ``evaluate``.

    Attributes
    ----------
    pred : prediction folder, ``global`` (cross-camera ids, default) or ``tracks``
    start, end : inclusive frame range, 1-based; None: the first / last
        ground-truth frame of each scene
    zero_based : the files number frames from 0 (shifted to 1-based on reading;
        ``start`` and ``end`` are then 1-based too)
    crossview_scalar_quirk : reproduce the official MvMHAT code's count of
        common true ids when two views hold one truth box each (docs/metrics.md)
    """

    pred: str = "global"
    start: int | None = None
    end: int | None = None
    zero_based: bool = False
    crossview_scalar_quirk: bool = True


# ---------------------------------------------------------------- loading
@dataclass(frozen=True)
class SceneInputs:
    """What one scene gives the evaluation.

    Attributes
    ----------
    name : the scene's name (its folder name)
    root : the scene folder
    cameras : evaluated cameras (those with ground truth), in natural order
    gt, pred : per camera, the ground truth and predictions (all frames)
    start, end : the inclusive frame range evaluated
    files : the files read
    warnings : one-line warnings about the inputs
    """

    name: str
    root: Path
    cameras: list[str]
    gt: dict[str, MotTable]
    pred: dict[str, MotTable]
    start: int
    end: int
    files: list[Path]
    warnings: list[str] = field(default_factory=list)


def _stage_files(scene: Scene, stage: str, hint: str) -> dict[str, Path]:
    folder = scene.stage_dir(stage)
    if not folder.is_dir():
        raise McmotError(f"{scene.root}: no {stage}/ folder; {hint}")
    files = scene.stage_files(stage)
    if not files:
        raise McmotError(f"{folder}: no <camera>.txt files; {hint}")
    return files


def _match_cameras(
    gt_files: dict[str, Path], pred_files: dict[str, Path], pred: str
) -> tuple[list[str], list[str]]:
    """Evaluated cameras (natural order of gt/) and warnings about unpaired files."""
    warnings = [
        f"{pred}/{cam}.txt has no gt/{cam}.txt: camera {cam} is not evaluated"
        for cam in pred_files
        if cam not in gt_files
    ]
    warnings += [
        f"gt/{cam}.txt has no {pred}/{cam}.txt: camera {cam} counts as predicting nothing"
        for cam in gt_files
        if cam not in pred_files
    ]
    return list(gt_files), warnings


def _frame_range(scene: Scene, gt: dict[str, MotTable], cfg: EvaluateConfig) -> tuple[int, int]:
    """The evaluated range: cfg's bounds, missing ones from the span of ground-truth frames."""
    frames = [int(f) for t in gt.values() if len(t) for f in (t.frames.min(), t.frames.max())]
    if not frames:
        raise McmotError(f"{scene.root}: every gt/ file is empty; nothing to evaluate")
    start = cfg.start if cfg.start is not None else min(frames)
    end = cfg.end if cfg.end is not None else max(frames)
    if end < start:
        raise McmotError(f"{scene.root}: frame range {start}:{end} is empty")
    inside = sum(len(t.frame_range(start, end)) for t in gt.values())
    if inside == 0:
        raise McmotError(
            f"{scene.root}: no ground-truth box in frames {start}:{end} "
            f"(ground truth spans {min(frames)}:{max(frames)})"
        )
    return start, end


def _outside(tables: dict[str, MotTable], start: int, end: int) -> int:
    return sum(len(t) - len(t.frame_range(start, end)) for t in tables.values())


def load_scene(scene: Scene, cfg: EvaluateConfig) -> SceneInputs:
    """Read and check one scene's ground truth and predictions.

    Errors (McmotError): no ``gt/`` or prediction folder or files, every
    ``gt/`` file empty, no ground truth in the frame range, a malformed file.
    Warnings (returned, not raised): a prediction file without ground truth
    (camera skipped), ground truth without predictions (counts as predicting
    nothing), an empty file, rows outside the frame range (ignored), ground
    truth that repeats a (frame, id) (kept and scored as the reference code
    scores it, see docs/metrics.md).
    """
    if cfg.pred not in PRED_STAGES:
        raise McmotError(f"--pred must be one of {', '.join(PRED_STAGES)}, got {cfg.pred!r}")
    gt_files = _stage_files(scene, "gt", "evaluate needs ground truth in gt/<camera>.txt")
    hint = (
        "run `mcmot associate` first, or evaluate per-camera tracks with --pred tracks"
        if cfg.pred == "global"
        else "run `mcmot track` first"
    )
    pred_files = _stage_files(scene, cfg.pred, hint)
    cameras, warnings = _match_cameras(gt_files, pred_files, cfg.pred)
    gt: dict[str, MotTable] = {}
    for cam in cameras:
        gt[cam], repeats = read_truth(gt_files[cam], zero_based=cfg.zero_based)
        if repeats:
            name = describe_repeats(f"gt/{cam}.txt", repeats)
            warnings.append(f"{name}; scored as the benchmark's official code does")
    pred = {
        c: read_mot(pred_files[c], zero_based=cfg.zero_based)
        if c in pred_files
        else MotTable.empty()
        for c in cameras
    }
    for cam in cameras:
        if not len(gt[cam]):
            warnings.append(f"gt/{cam}.txt is empty: all {cfg.pred}/{cam}.txt boxes count as FP")
        if cam in pred_files and not len(pred[cam]):
            warnings.append(f"{cfg.pred}/{cam}.txt is empty: all its truth boxes count as missed")
    start, end = _frame_range(scene, gt, cfg)
    n_gt, n_pr = _outside(gt, start, end), _outside(pred, start, end)
    if n_gt or n_pr:
        warnings.append(
            f"{n_gt} ground-truth and {n_pr} predicted rows outside frames {start}:{end} ignored"
        )
    files = [gt_files[c] for c in cameras] + [pred_files[c] for c in cameras if c in pred_files]
    warnings = [f"{scene.name}: {w}" for w in warnings]
    return SceneInputs(scene.name, scene.root, cameras, gt, pred, start, end, files, warnings)


# ---------------------------------------------------------------- computing
@dataclass(frozen=True)
class SceneCounts:
    """The additive results of one scene.

    Attributes
    ----------
    name : the scene's name
    start, end : the frame range evaluated
    cameras : per camera, (CLEAR + identity counts, HOTA sums)
    crossview : the cross-view counts; None for a single-camera scene
    """

    name: str
    start: int
    end: int
    cameras: dict[str, tuple[ClearIdCounts, HotaCounts]]
    crossview: CrossViewCounts | None

    def pooled(self) -> tuple[ClearIdCounts, HotaCounts]:
        """Over-time counts pooled over the scene's cameras."""
        return _pool(list(self.cameras.values()))


def _pool(items: list[tuple[ClearIdCounts, HotaCounts]]) -> tuple[ClearIdCounts, HotaCounts]:
    clear, hota = ClearIdCounts(), HotaCounts.zero()
    for c, h in items:
        clear, hota = clear + c, hota + h
    return clear, hota


def compute_scene(
    inputs: SceneInputs, cfg: EvaluateConfig, progress: ProgressCallback | None = None
) -> SceneCounts:
    """Over-time counts per camera and cross-view counts of one loaded scene."""
    cams: dict[str, tuple[ClearIdCounts, HotaCounts]] = {}
    total = len(inputs.cameras) + 1
    for k, cam in enumerate(inputs.cameras):
        seq = build_sequence(inputs.gt[cam], inputs.pred[cam], inputs.start, inputs.end)
        cams[cam] = (clear_id_counts(seq), hota_counts(seq))
        if progress:
            progress(ProgressEvent(f"evaluate {inputs.name}", k + 1, total))
    cross = None
    if len(inputs.cameras) > 1:
        views = [(inputs.gt[c], inputs.pred[c]) for c in inputs.cameras]
        cross = crossview_counts(
            views, inputs.start, inputs.end, scalar_quirk=cfg.crossview_scalar_quirk
        )
    if progress:
        progress(ProgressEvent(f"evaluate {inputs.name}", total, total))
    return SceneCounts(inputs.name, inputs.start, inputs.end, cams, cross)


# ---------------------------------------------------------------- summaries
def _mean2(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None else (a + b) / 2.0


def summary(
    clear: ClearIdCounts, hota: HotaCounts, crossview: list[CrossViewCounts]
) -> dict[str, float | int | None]:
    """The reported metrics, keys exactly :data:`KEYS` (rates as fractions, None if undefined).

    Cross-view values (and A, F) are None when ``crossview`` is empty.
    """
    r = clear.rates()
    h = hota.rates()
    cv = combine_crossview(crossview)
    out: dict[str, float | int | None] = {k: r[k] for k in ("IDP", "IDR", "IDF1", "MOTA", "MOTP")}
    out.update({k: h[k] for k in ("HOTA", "DetA", "AssA")})
    out.update({k: r[k] for k in ("FP", "FN", "IDSW")})
    out.update(cv)
    out["A"] = _mean2(r["MOTA"], cv["MHAA"])  # type: ignore[arg-type]
    out["F"] = _mean2(r["IDF1"], cv["AIDF1"])  # type: ignore[arg-type]
    return {k: out[k] for k in KEYS}


def detail(clear: ClearIdCounts, hota: HotaCounts) -> dict[str, Any]:
    """Every over-time number of one camera (or a pool): rates, counts, HOTA parts."""
    out: dict[str, Any] = dict(clear.rates())
    out.update(hota.rates())
    out.update(
        {
            "PT": clear.pt,
            "num_ids": clear.num_ids,
            "num_gt": clear.num_gt,
            "num_pred": clear.num_pred,
            "IDTP": clear.idtp,
            "IDFP": clear.idfp,
            "IDFN": clear.idfn,
        }
    )
    return out


@dataclass(frozen=True)
class EvalResult:
    """Results of one ``evaluate`` run over several scenes.

    Attributes
    ----------
    scenes : per scene (keyed by a unique name), its counts
    warnings : one-line warnings, each prefixed with the scene name
    """

    scenes: dict[str, SceneCounts]
    warnings: list[str]

    def scene_summary(self, name: str) -> dict[str, float | int | None]:
        sc = self.scenes[name]
        return summary(*sc.pooled(), [sc.crossview] if sc.crossview else [])

    def pooled(self) -> tuple[ClearIdCounts, HotaCounts]:
        """Over-time counts pooled over every camera of every scene."""
        return _pool([ch for sc in self.scenes.values() for ch in sc.cameras.values()])

    def combined(self) -> dict[str, float | int | None]:
        """All scenes: over-time pooled over every camera, cross-view over multi-camera scenes."""
        clear, hota = self.pooled()
        cross = [sc.crossview for sc in self.scenes.values() if sc.crossview is not None]
        return summary(clear, hota, cross)

    def to_json(self) -> dict[str, Any]:
        """``{"scenes": {name: summary}, "combined": summary}``."""
        return {
            "scenes": {n: self.scene_summary(n) for n in self.scenes},
            "combined": self.combined(),
        }


def scene_report(counts: SceneCounts, cfg: EvaluateConfig, warnings: list[str]) -> dict[str, Any]:
    """The content of a scene's ``eval.json``."""
    return {
        "scene": counts.name,
        "pred": cfg.pred,
        "frames": [counts.start, counts.end],
        "metrics": summary(*counts.pooled(), [counts.crossview] if counts.crossview else []),
        "pooled": detail(*counts.pooled()),
        "cameras": {cam: detail(c, h) for cam, (c, h) in counts.cameras.items()},
        "crossview": counts.crossview.summary() if counts.crossview else None,
        "warnings": warnings,
    }


def _unique_names(scenes: list[Scene]) -> list[str]:
    roots = [s.root.resolve() for s in scenes]
    if len(set(roots)) < len(roots):
        raise McmotError("a scene folder is given twice")
    names = [s.name for s in scenes]
    return [n if names.count(n) == 1 else str(s.root) for n, s in zip(names, scenes, strict=True)]


def run_evaluate(
    scenes: list[Scene],
    cfg: EvaluateConfig,
    *,
    write: bool = True,
    progress: ProgressCallback | None = None,
) -> EvalResult:
    """Evaluate scenes, write ``eval.json`` into each (unless ``write`` is False).

    All scenes are loaded and checked before anything is computed or written,
    so bad input in one scene leaves every scene untouched. ``eval.json`` is a
    report derived from the inputs and is always replaced; provenance goes to
    ``provenance/evaluate.json``.

    Parameters
    ----------
    scenes : the scene folders
    cfg : the parameters
    write : write ``eval.json`` and the provenance record into each scene
    progress : optional progress callback

    Returns
    -------
    EvalResult
    """
    if not scenes:
        raise McmotError("give at least one scene folder")
    inputs = [load_scene(s, cfg) for s in scenes]
    names = _unique_names(scenes)
    counts: dict[str, SceneCounts] = {}
    warnings = [w for i in inputs for w in i.warnings]
    for name, scene, inp in zip(names, scenes, inputs, strict=True):
        counts[name] = compute_scene(inp, cfg, progress)
        if write:  # eval.json and its record land together
            with scene.staged("evaluate") as st:
                write_json(st.path(scene.eval_path), scene_report(counts[name], cfg, inp.warnings))
                scene.record("evaluate", to_dict(cfg), inp.files, [scene.eval_path], st)
    return EvalResult(counts, warnings)
