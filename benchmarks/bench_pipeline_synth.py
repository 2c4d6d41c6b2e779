"""The whole pipeline on held-out synthetic scenes: what each feature and each cue contributes.

``synth -> detect -> pretrain -> extract-features -> track -> associate ->
evaluate``, with the stages' library functions and frozen configs:

1. A **training scene** (its own seed) is generated, detected and used to
   pretrain CalibFree for ``--pretrain-minutes``. The same config with the
   same seed, before any step, is saved as the **untrained** encoder (the
   exact weights the pretraining started from).
2. **Held-out scenes** (other seeds, one per difficulty) are generated; none
   of them is seen by pretraining and nothing is tuned on them.
3. For each held-out scene and each box source (``gt``: ``detect --from-gt``,
   the paper's protocol; ``det``: the YOLO detector at ``--imgsz``), features
   are extracted with each encoder (``calibfree``, ``teacher``, ``untrained``,
   and ``histogram``: colour histograms, no network, the training-free control),
   the tracker runs on the view-specific features ``f_s``, and association
   runs with ``--cues both``, ``appearance`` and ``geometry``. A ``none`` row
   (tracker without features, geometry only) is the boxes-only peer.
4. Every combination is evaluated: IDF1, MOTA (over time, pooled over
   cameras), AIDF1, MHAA (cross-view), A = (MOTA + MHAA) / 2, F = (IDF1 + AIDF1) / 2.

Everything is cached under ``--work`` (a fingerprint of each step's
parameters in ``stamps.json``), so a rerun only redoes what changed.

Run: ``python -m benchmarks.bench_pipeline_synth --work /tmp/bench-pipe
[--pretrain-minutes 5] [--frames 200] [--difficulties easy,medium,hard] [--boxes gt,det]
[--repeats 3] [--json PATH]`` (``--repeats``: held-out scenes per difficulty, metrics pooled
over them; the JSON also holds every row's per-scene metrics)
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file

from benchmarks import harness
from benchmarks.common import untrained_checkpoint, variant
from mcmot.association.config import AssociateConfig
from mcmot.atomic import write_json
from mcmot.config import apply_settings, to_dict
from mcmot.errors import McmotError
from mcmot.metrics.crossview import truth_labels
from mcmot.models.clips_config import ClipsConfig
from mcmot.models.pretrain_config import PRESETS, PretrainConfig
from mcmot.motio import read_mot, write_mot
from mcmot.scene import Scene
from mcmot.stages.associate import AssociateResult, run_associate
from mcmot.stages.detect import DetectConfig, run_detect
from mcmot.stages.evaluate import EvaluateConfig, run_evaluate
from mcmot.stages.features import FeaturesConfig, run_extract_features
from mcmot.stages.pretrain import run_pretrain
from mcmot.stages.pretrain_clips import run_pretrain_clips
from mcmot.stages.track import run_track
from mcmot.synth import DIFFICULTIES, SynthConfig, generate_scene
from mcmot.tracking import TrackerConfig
from mcmot.training.loop import CHECKPOINT

#: Metrics reported per row, in this order.
METRICS = ("IDF1", "MOTA", "AIDF1", "MHAA", "A", "F")
#: Encoders compared by default; ``none`` = tracker without features and geometry-only
#: association.
FEATURES = ("calibfree", "teacher", "untrained", "histogram", "none")
#: SSAT encoders (``--features ssat,ssat-tracklets``), trained on the training scene's
#: clips with these inputs (``pretrain --objective clips --inputs ...``).
SSAT_INPUTS = {"ssat": "frames", "ssat-tracklets": "tracklets"}
CUES = ("both", "appearance", "geometry")
#: The label-using whole-tracklet oracle row (``--oracle``): not a method, a diagnostic.
ORACLE = "gt-oracle"
#: The detector's inference size: 640 fits the 640x360 synthetic cameras (no upscaling needed).
DET_IMGSZ = 640
#: Seed of the training scene and first seed of the held-out scenes (never used elsewhere).
TRAIN_SEED = 8100
TEST_SEED = 8201

#: Changes when the benchmark's way of pretraining changes (invalidates cached checkpoints).
PRETRAIN_RECIPE = "warm-cache-then-budget"

Log = Callable[[str], None]


@dataclass(frozen=True)
class BenchConfig:
    """What the benchmark generates, trains and compares.

    Attributes
    ----------
    cameras, people, frames, width, height : size of every held-out scene
    difficulties : held-out difficulties; a difficulty's scene gets seed ``test_seed`` plus
        its rank in :data:`mcmot.synth.DIFFICULTIES` (easy 0, medium 1, hard 2), so
        it is the same scene whichever difficulties a run asks for
    oracle : also a ``gt-oracle`` row per encoder: the tracks with every tracklet
        given its majority ground-truth identity (:func:`oracle_global`), what
        association without tracklet splitting could reach on them
    repeats : held-out scenes per difficulty (other seeds, see :func:`held_out_seed`);
        each row pools its metrics over them (one scene is a noisy estimate)
    shared_geometry : fit each scene's geometry once, from the motion-only
        tracker's tracks of its boxes (:func:`shared_geometry`), and give it
        to every encoder's association, so that the encoders are compared on
        one geometry and not on the luck of separate RANSAC fits; False = each
        encoder's association fits its own, as a user's run does
    test_seed : seed of the first held-out scene
    train_frames : frames of the training scene (same cameras and size)
    train_people : people at a time in the training scene (None = ``people``)
    train_difficulty : difficulty of the training scene
    train_seed : seed of the training scene
    boxes : box sources: "gt" (``detect --from-gt``) and/or "det" (the detector)
    features : encoders compared (see :data:`FEATURES`)
    cues : association cues compared for each encoder
    pretrain : pretraining settings (``minutes`` = the budget)
    ssat : SSAT's training settings (``inputs`` is set per encoder)
    detect : detector settings (``from_gt`` is set per box source)
    feature : extract-features settings (``model`` is set per encoder)
    tracker : tracker settings
    track_features : features the tracker uses ("f_s", "f_a")
    associate : association settings (``cues`` is set per row)
    fmt : pixel format of the generated scenes ("jpg" decodes fastest)
    """

    cameras: int = 4
    people: int = 8
    frames: int = 200
    width: int = 640
    height: int = 360
    difficulties: tuple[str, ...] = ("easy", "medium", "hard")
    repeats: int = 1
    oracle: bool = False
    shared_geometry: bool = True
    test_seed: int = TEST_SEED
    train_frames: int = 200
    train_people: int | None = None
    train_difficulty: str = "medium"
    train_seed: int = TRAIN_SEED
    boxes: tuple[str, ...] = ("gt", "det")
    features: tuple[str, ...] = FEATURES
    cues: tuple[str, ...] = CUES
    pretrain: PretrainConfig = field(
        default_factory=lambda: dataclasses.replace(PRESETS["cpu"], minutes=5.0, boxes="det")
    )
    ssat: ClipsConfig = ClipsConfig(minutes=5.0)
    detect: DetectConfig = DetectConfig(imgsz=DET_IMGSZ)
    feature: FeaturesConfig = FeaturesConfig()
    tracker: TrackerConfig = TrackerConfig()
    track_features: str = "f_s"
    associate: AssociateConfig = AssociateConfig()
    fmt: str = "jpg"

    def synth(
        self, difficulty: str, seed: int, frames: int, people: int | None = None
    ) -> SynthConfig:
        """The generator settings of one scene (``people`` None = ``self.people``)."""
        return SynthConfig(
            cameras=self.cameras,
            people=self.people if people is None else people,
            frames=frames,
            width=self.width,
            height=self.height,
            seed=seed,
            difficulty=difficulty,
            fmt=self.fmt,
        )


@dataclass(frozen=True)
class Row:
    """One line of the table: a box source, difficulty, encoder and cue, and its metrics."""

    boxes: str
    difficulty: str
    features: str
    cues: str
    metrics: dict[str, float | None]
    identities: int
    seconds: float
    appearance: str = ""
    per_scene: tuple[dict[str, float | None], ...] = ()


@dataclass(frozen=True)
class SceneInfo:
    """Size of one generated scene: cameras, frames, ground-truth boxes and identities."""

    name: str
    difficulty: str
    seed: int
    cameras: int
    frames: int
    gt_boxes: int
    identities: int


@dataclass(frozen=True)
class BenchResult:
    """Rows, the scenes and the pretraining summary."""

    rows: list[Row]
    scenes: list[SceneInfo]
    pretrain: dict[str, Any]


# ----------------------------------------------------------------- caching
class Stamps:
    """Fingerprints of finished steps in ``WORK/stamps.json`` (a step reruns when it changes)."""

    def __init__(self, work: Path) -> None:
        self.path = work / "stamps.json"
        try:
            self.data: dict[str, Any] = json.loads(self.path.read_text())
        except (OSError, json.JSONDecodeError):
            self.data = {}

    def run(self, key: str, params: Any, work: Callable[[], dict[str, Any]]) -> dict[str, Any]:
        """``work()``'s info, or the cached info when ``key`` ran with the same ``params``.

        Returns the info with ``"fp"``, the fingerprint later steps chain on.
        """
        fp = fingerprint(params)
        old = self.data.get(key)
        if old is not None and old.get("fp") == fp:
            return old
        info = {**work(), "fp": fp}
        self.data[key] = info
        write_json(self.path, self.data)
        return info


def fingerprint(params: Any) -> str:
    """A short hash of JSON-able parameters (dataclasses allowed)."""
    text = json.dumps(params, sort_keys=True, default=_json_default)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _json_default(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj):
        return to_dict(obj)
    return str(obj)


# ----------------------------------------------------------------- steps
def held_out_seed(cfg: BenchConfig, difficulty: str, repeat: int = 0) -> int:
    """The seed of a difficulty's ``repeat``-th held-out scene.

    Fixed per difficulty and repeat (``--det-difficulties medium`` must reuse
    the gt run's medium scene, not regenerate another one over it); repeat 0
    is ``test_seed`` + the difficulty's rank, later repeats step by the number
    of difficulties, so no two scenes share a seed.
    """
    if difficulty not in DIFFICULTIES:
        raise McmotError(f"unknown difficulty {difficulty!r} (one of {', '.join(DIFFICULTIES)})")
    return cfg.test_seed + list(DIFFICULTIES).index(difficulty) + len(DIFFICULTIES) * repeat


def scene_name(difficulty: str, repeat: int) -> str:
    """Folder and cache name of a held-out scene: ``medium``, ``medium-2``, ..."""
    return difficulty if repeat == 0 else f"{difficulty}-{repeat + 1}"


def make_scene(root: Path, cfg: SynthConfig) -> dict[str, Any]:
    """Generate a synthetic scene into ``root`` (replacing a stale one)."""
    if root.exists():
        shutil.rmtree(root)
    scene = generate_scene(root, cfg)
    gts = [read_mot(p) for p in scene.stage_files("gt").values()]
    ids = {int(i) for g in gts for i in g.ids}
    return {"gt_boxes": sum(len(g) for g in gts), "identities": len(ids)}


def copy_stage(src: Scene, dst: Scene, stage: str) -> None:
    """Copy ``src``'s ``stage/`` files into ``dst`` (e.g. the shared det/ boxes)."""
    out = dst.stage_dir(stage)
    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(src.stage_dir(stage), out)


def detect(scene: Scene, cfg: DetectConfig, boxes: str) -> dict[str, Any]:
    """``detect`` (``--from-gt`` for ``boxes == "gt"``) into ``scene``."""
    res = run_detect(scene, dataclasses.replace(cfg, from_gt=boxes == "gt"), overwrite=True)
    return {"boxes": sum(c.detections for c in res.cameras)}


def pretrain(train: Scene, run_dir: Path, cfg: PretrainConfig, log: Log) -> dict[str, Any]:
    """Pretrain on the training scene; also save the untrained encoder beside it.

    A first one-step run fills the run's crop and teacher caches, so that the
    ``minutes`` budget of the real run (which restarts from scratch) is spent
    training rather than decoding and running the teacher.
    """
    t0 = time.perf_counter()
    warm = dataclasses.replace(cfg, minutes=None, epochs=1)
    run_pretrain([train], run_dir, warm, overwrite=True, stop_at_step=1, log=log)
    cache_s = time.perf_counter() - t0
    res = run_pretrain([train], run_dir, cfg, overwrite=True, log=log)
    untrained_checkpoint(res.checkpoint, run_dir / "untrained.pt")
    return {
        "steps": res.step,
        "epochs": round(res.epoch, 2),
        "seconds": round(res.seconds, 1),
        "cache_seconds": round(cache_s, 1),
        "timesteps_per_s": round(res.samples_per_s, 2),
        "teacher": res.teacher,
        "losses": res.losses,
    }


def pretrain_ssat(
    train: Scene, run_dir: Path, cfg: ClipsConfig, tracker: TrackerConfig
) -> dict[str, Any]:
    """Train SSAT on the training scene (tracklet inputs: on its motion-only tracks)."""
    if cfg.inputs == "tracklets":
        run_track(train, tracker, features="none", overwrite=True)
    res = run_pretrain_clips([train.root], run_dir, cfg, overwrite=True)
    return {
        "steps": res.step,
        "classes": res.classes,
        "images": res.images,
        "seconds": round(res.seconds, 1),
        "losses": res.losses,
    }


def extract(scene: Scene, cfg: FeaturesConfig) -> dict[str, Any]:
    """``extract-features`` into ``scene``."""
    return {"rows": sum(c.rows for c in run_extract_features(scene, cfg, overwrite=True))}


#: Metrics also kept per held-out scene (for the paired comparison).
PER_SCENE = ("AIDF1", "MHAA")


@dataclass(frozen=True)
class Scored:
    """One cue's result over the held-out scenes of a row.

    Attributes
    ----------
    cues : the cue (or ``ORACLE``)
    metrics : pooled over the scenes
    identities : summed over the scenes
    seconds : association time, summed
    appearance : the appearance models' notes, one per scene
    per_scene : ``PER_SCENE`` metrics of each scene, in repeat order
    """

    cues: str
    metrics: dict[str, float | None]
    identities: int
    seconds: float
    appearance: str
    per_scene: tuple[dict[str, float | None], ...]


def _floats(summary: dict[str, Any], keys: tuple[str, ...]) -> dict[str, float | None]:
    return {k: None if summary[k] is None else float(summary[k]) for k in keys}


def appearance_note(res: AssociateResult) -> str:
    """The calibrated appearance model: separation d', fusion weight, false-match
    rate, and (offline, both cues) agreement with geometry."""
    a = res.appearance
    if a is None:
        return ""
    fmr = "-" if a.false_match_rate is None else f"{a.false_match_rate:.2f}"
    agr = "" if a.agreement is None else f" agr={a.agreement:.2f}"
    return f"d'={a.separation:.2f} w={a.weight:.2f} fmr={fmr}{agr}"


def oracle_global(scene: Scene) -> int:
    """Write ``global/`` giving each tracklet its majority ground-truth identity.

    Every cross-camera decision right, every tracklet kept whole as the tracker
    cut it. Not a strict ceiling: association splits tracklets where their
    cross-view partners change (a tracker's identity switch) and can score
    above it; where it scores far below, association (not tracking) is what
    loses. Rows are matched to the truth as the cross-view
    evaluator matches them. A tracklet matching no truth, or whose identity
    a larger tracklet of its camera already holds in a shared frame, gets an
    identity of its own. Returns the number of identities.
    """
    used: set[int] = set()
    outputs = []
    for cam, path in scene.stage_files("tracks").items():
        pred = read_mot(path).sorted()
        gt = read_mot(scene.path("gt", cam)).sorted()
        frames = np.union1d(gt.frames, pred.frames)
        labels = truth_labels(gt, pred, frames)
        votes: dict[int, dict[int, int]] = {}
        for tid, gid in zip(labels[labels > 0].tolist(), gt.ids[labels > 0].tolist(), strict=True):
            votes.setdefault(tid, {}).setdefault(gid, 0)
            votes[tid][gid] += 1
        outputs.append((cam, pred, votes))
        used.update(int(g) for g in gt.ids)
    fresh = max(used, default=0) + 1
    identities: set[int] = set()
    for cam, pred, votes in outputs:
        new = np.empty(len(pred), np.int64)
        taken: dict[int, set[int]] = {}  # truth id -> frames it holds in this camera
        tids = sorted(
            np.unique(pred.ids).tolist(), key=lambda t: -max(votes.get(t, {0: 0}).values())
        )
        for tid in tids:
            rows = pred.ids == tid
            fr = set(pred.frames[rows].tolist())
            gid = max(votes[tid], key=votes[tid].get) if tid in votes else None
            if gid is None or fr & taken.get(gid, set()):
                gid, fresh = fresh, fresh + 1
            taken.setdefault(gid, set()).update(fr)
            new[rows] = gid
        write_mot(scene.path("global", cam), pred.with_ids(new))
        identities.update(taken)
    return len(identities)


def shared_geometry(base: Scene, cfg: BenchConfig) -> Path:
    """Fit ``base``'s geometry once (label-free, feature-free) and return its file.

    The motion-only tracker runs on ``base``'s boxes and geometry-only
    association fits every camera pair on those tracks
    (``base/geometry.json``).
    """
    run_track(base, cfg.tracker, features="none", overwrite=True)
    run_associate(base, dataclasses.replace(cfg.associate, cues="geometry"), overwrite=True)
    return base.root / "geometry.json"


def evaluate_cues(
    scenes: list[Scene],
    cfg: BenchConfig,
    cues: tuple[str, ...],
    geometry: list[Path] | None = None,
) -> list[Scored]:
    """Associate every scene with each cue and evaluate them together.

    ``geometry``: one geometry file per scene to reuse (None = each fits its own).
    Returns one :class:`Scored` per cue.
    """
    out = []
    files: list[Path | None] = list(geometry) if geometry else [None] * len(scenes)
    for cue in cues:
        dt, ids, notes = 0.0, 0, []
        for scene, gfile in zip(scenes, files, strict=True):
            t0 = time.perf_counter()
            if cue == ORACLE:
                ids += oracle_global(scene)
                continue
            acfg = dataclasses.replace(
                cfg.associate, cues=cue, geometry_path=None if gfile is None else str(gfile)
            )
            res = run_associate(scene, acfg, overwrite=True)
            dt += time.perf_counter() - t0
            ids += res.identities
            notes.append(appearance_note(res))
        ev = run_evaluate(scenes, EvaluateConfig(), write=False)
        per_scene = tuple(_floats(ev.scene_summary(name), PER_SCENE) for name in ev.scenes)
        note = " | ".join(n for n in notes if n)
        out.append(Scored(cue, _floats(ev.combined(), METRICS), ids, dt, note, per_scene))
    return out


# ----------------------------------------------------------------- the benchmark
def _encoder(name: str, run_dir: Path) -> str | None:
    return {
        "calibfree": str(run_dir / CHECKPOINT),
        "untrained": str(run_dir / "untrained.pt"),
        "teacher": "teacher",
        "histogram": "histogram",
        **{enc: str(run_dir.parent / enc / CHECKPOINT) for enc in SSAT_INPUTS},
    }.get(name)


def _one_variant(
    work: Path,
    stamps: Stamps,
    cfg: BenchConfig,
    sroot: Path,
    base: Scene,
    key: str,
    enc: str,
    model_fp: str,
    run_dir: Path,
) -> Scene:
    """Features and tracks of one (scene, boxes, encoder), ready to associate."""
    scene = variant(sroot, work / "runs" / key / enc)
    copy_stage(base, scene, "det")
    model = _encoder(enc, run_dir)
    track_feats = "none" if model is None else cfg.track_features
    if model is not None:
        fcfg = dataclasses.replace(cfg.feature, model=model)
        stamps.run(
            f"features/{key}/{enc}",
            [stamps.data[f"det/{key}"]["fp"], fcfg, model_fp],
            lambda: extract(scene, fcfg),
        )
    run_track(scene, cfg.tracker, features=track_feats, overwrite=True)
    return scene


def run_benchmark(work: Path | str, cfg: BenchConfig, log: Log | None = None) -> BenchResult:
    """Run the benchmark in ``work`` (cached there) and return its rows.

    Parameters
    ----------
    work : folder for scenes, checkpoints and intermediate outputs
    cfg : what to run
    log : receives one-line progress messages

    Returns
    -------
    BenchResult
    """
    say = log or (lambda m: None)
    if cfg.repeats < 1:
        raise McmotError(f"--repeats must be at least 1, got {cfg.repeats}")
    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    stamps = Stamps(work)
    needs_model = any(f in ("calibfree", "untrained") for f in cfg.features)
    ssat_encs = [f for f in cfg.features if f in SSAT_INPUTS]

    scenes: list[SceneInfo] = []
    run_dir = work / "train" / "model"
    pre_info: dict[str, Any] = {}
    fps: dict[str, str] = {}
    if needs_model or ssat_encs:
        say("training scene")
        tcfg = cfg.synth(cfg.train_difficulty, cfg.train_seed, cfg.train_frames, cfg.train_people)
        tscene = work / "train" / "scene"
        info = stamps.run("synth/train", tcfg, lambda: make_scene(tscene, tcfg))
        scenes.append(_scene_info("train", tcfg, info))
        pboxes = cfg.pretrain.boxes
        dinfo = stamps.run(
            "det/train",
            [info["fp"], cfg.detect, pboxes],
            lambda: detect(Scene(tscene), cfg.detect, pboxes),
        )
        if needs_model:
            say(f"pretraining ({cfg.pretrain.minutes} min)")
            pre_info = stamps.run(
                "pretrain",
                [dinfo["fp"], cfg.pretrain, PRETRAIN_RECIPE],
                lambda: pretrain(Scene(tscene), run_dir, cfg.pretrain, say),
            )
            fps.update(calibfree=pre_info["fp"], untrained=pre_info["fp"])
        for enc in ssat_encs:
            say(f"training {enc} ({cfg.ssat.minutes} min)")
            scfg = dataclasses.replace(cfg.ssat, inputs=SSAT_INPUTS[enc])
            sinfo = stamps.run(
                f"ssat/{enc}",
                [dinfo["fp"], scfg, cfg.tracker],
                lambda c=scfg, e=enc: pretrain_ssat(
                    Scene(tscene), run_dir.parent / e, c, cfg.tracker
                ),
            )
            fps[enc] = sinfo["fp"]
            pre_info[enc] = {k: v for k, v in sinfo.items() if k != "fp"}
    rows: list[Row] = []
    for diff in cfg.difficulties:
        held_out = []  # (name, scene root, synth info) of each repeat
        for r in range(cfg.repeats):
            name = scene_name(diff, r)
            scfg = cfg.synth(diff, held_out_seed(cfg, diff, r), cfg.frames)
            sroot = work / "test" / name / "scene"
            info = stamps.run(f"synth/{name}", scfg, lambda s=sroot, c=scfg: make_scene(s, c))
            scenes.append(_scene_info(name, scfg, info))
            held_out.append((name, sroot, info))
        for boxes in cfg.boxes:
            bases = []
            for name, sroot, info in held_out:
                say(f"{name}/{boxes}: detect")
                base = variant(sroot, work / "test" / name / boxes)
                stamps.run(
                    f"det/{name}/{boxes}",
                    [info["fp"], cfg.detect, boxes],
                    lambda b=base, x=boxes: detect(b, cfg.detect, x),
                )
                bases.append(base)
            geometry = [shared_geometry(b, cfg) for b in bases] if cfg.shared_geometry else None
            for enc in cfg.features:
                say(f"{diff}/{boxes}: {enc}")
                model_fp = fps.get(enc, "")
                ready = [
                    _one_variant(
                        work, stamps, cfg, sroot, base, f"{name}/{boxes}", enc, model_fp, run_dir
                    )
                    for (name, sroot, _), base in zip(held_out, bases, strict=True)
                ]
                cues = ("geometry",) if _encoder(enc, run_dir) is None else cfg.cues
                cues += (ORACLE,) if cfg.oracle else ()
                for s in evaluate_cues(ready, cfg, cues, geometry):
                    rows.append(
                        Row(
                            boxes,
                            diff,
                            enc,
                            s.cues,
                            s.metrics,
                            s.identities,
                            s.seconds,
                            s.appearance,
                            s.per_scene,
                        )  # fmt: skip
                    )
    return BenchResult(rows, scenes, {k: v for k, v in pre_info.items() if k != "fp"})


def _scene_info(name: str, scfg: SynthConfig, info: dict[str, Any]) -> SceneInfo:
    return SceneInfo(
        name,
        scfg.difficulty,
        scfg.seed,
        scfg.cameras,
        scfg.frames,
        int(info["gt_boxes"]),
        int(info["identities"]),
    )


# ----------------------------------------------------------------- printing
#: How the table's numeric columns print.
TABLE_FORMATS = {"assoc s": ".1f"}


def table_rows(res: BenchResult) -> list[dict[str, Any]]:
    """One table row per result row (metrics None where undefined)."""
    return [
        {"boxes": r.boxes, "scene": r.difficulty, "features": r.features, "cues": r.cues,
         **{m: r.metrics[m] for m in METRICS}, "ids": r.identities, "assoc s": r.seconds,
         "appearance": r.appearance}
        for r in res.rows
    ]  # fmt: skip


def format_table(res: BenchResult) -> str:
    """The rows as an aligned text table."""
    return harness.format_table(table_rows(res), TABLE_FORMATS)


def format_paired(res: BenchResult, a: str = "calibfree", b: str = "teacher") -> str:
    """Per held-out scene, how often encoder ``a`` is ahead of ``b`` (``both`` rows).

    A pooled lead of a few hundredths can come from one scene; this counts
    the scenes (ahead / tied / behind, per metric). Empty when a row has one scene.
    """
    both = {(r.boxes, r.difficulty, r.features): r for r in res.rows if r.cues == "both"}
    lines = []
    for (boxes, diff, enc), ra in both.items():
        rb = both.get((boxes, diff, b))
        if enc != a or rb is None or len(ra.per_scene) < 2:
            continue
        parts = []
        for m in PER_SCENE:
            pairs = [
                (x[m], y[m])
                for x, y in zip(ra.per_scene, rb.per_scene, strict=True)
                if x[m] is not None and y[m] is not None
            ]
            ahead = sum(x > y + 1e-9 for x, y in pairs)
            behind = sum(x < y - 1e-9 for x, y in pairs)
            parts.append(
                f"{m} {ahead} ahead / {len(pairs) - ahead - behind} tied / {behind} behind"
            )
        lines.append(f"  {boxes:4} {diff:6} {a} vs {b}: " + "; ".join(parts))
    return "\n".join(lines)


def format_scenes(res: BenchResult, cfg: BenchConfig) -> str:
    """One line per generated scene."""
    size = f"{cfg.width}x{cfg.height}"
    return "\n".join(
        f"  {s.name:6} {s.difficulty:6} seed {s.seed}: {s.cameras} cameras x {s.frames} frames "
        f"{size}, {s.identities} identities, "
        f"{s.gt_boxes} gt boxes"
        for s in res.scenes
    )


# ----------------------------------------------------------------- CLI
def build_parser() -> argparse.ArgumentParser:
    ap = harness.make_parser(__doc__)
    ap.add_argument("--work", type=Path, required=True, help="cache folder (scenes, checkpoints)")
    ap.add_argument("--pretrain-minutes", type=float, default=5.0)
    ap.add_argument(
        "--ssat-minutes", type=float, help="SSAT's training budget (default: --pretrain-minutes)"
    )
    ap.add_argument("--pretrain-boxes", choices=("det", "gt"), default="det")
    ap.add_argument(
        "--pretrain-seed", type=int, default=0, help="seed of CalibFree's pretraining run"
    )
    ap.add_argument("--frames", type=int, default=200, help="frames of each held-out scene")
    ap.add_argument("--train-frames", type=int, default=200)
    ap.add_argument("--cameras", type=int, default=4)
    ap.add_argument("--people", type=int, default=8, help="people at a time, held-out scenes")
    ap.add_argument("--train-people", type=int, help="people in the training scene (--people)")
    ap.add_argument("--difficulties", default="easy,medium,hard")
    ap.add_argument(
        "--repeats", type=int, default=1, help="held-out scenes per difficulty (pooled)"
    )
    ap.add_argument("--boxes", default="gt,det", help="gt, det or gt,det")
    ap.add_argument("--det-difficulties", default=None, help="run det boxes only on these")
    ap.add_argument(
        "--features",
        default=",".join(FEATURES),
        help=f"encoders: {', '.join(FEATURES + tuple(SSAT_INPUTS))}",
    )
    ap.add_argument("--device", default="auto", help="pretrain/detect/features device")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument(
        "--appearance-weight",
        type=float,
        default=None,
        help="associate --appearance-weight for the 'both' rows (default: calibrated)",
    )
    ap.add_argument(
        "--oracle", action="store_true", help="add the label-using association ceiling rows"
    )
    ap.add_argument(
        "--track-set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a TrackerConfig field (repeatable), e.g. --track-set motion_weight=0.5",
    )
    ap.add_argument("--geometry-seed", type=int, default=0, help="RANSAC seed of the geometry fits")
    ap.add_argument(
        "--own-geometry",
        action="store_true",
        help="each encoder's association fits its own geometry (default: one per scene)",
    )
    return ap


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    return build_parser().parse_args(argv)


def config_from_args(a: argparse.Namespace) -> BenchConfig:
    """The BenchConfig of parsed arguments."""
    base = BenchConfig()
    return dataclasses.replace(
        base,
        cameras=a.cameras,
        people=a.people,
        frames=a.frames,
        train_frames=a.train_frames,
        train_people=a.train_people,
        difficulties=tuple(a.difficulties.split(",")),
        repeats=a.repeats,
        oracle=a.oracle,
        shared_geometry=not a.own_geometry,
        boxes=tuple(a.boxes.split(",")),
        features=tuple(a.features.split(",")),
        pretrain=dataclasses.replace(
            base.pretrain,
            minutes=a.pretrain_minutes,
            boxes=a.pretrain_boxes,
            device=a.device,
            seed=a.pretrain_seed,
        ),
        ssat=dataclasses.replace(
            base.ssat,
            minutes=a.ssat_minutes or a.pretrain_minutes,
            device=a.device,
            seed=a.pretrain_seed,
        ),
        detect=dataclasses.replace(base.detect, device=a.device),
        feature=dataclasses.replace(base.feature, device=a.device),
        associate=dataclasses.replace(
            base.associate,
            appearance_weight=a.appearance_weight,
            geometry=dataclasses.replace(base.associate.geometry, seed=a.geometry_seed),
        ),
        tracker=apply_settings(base.tracker, a.track_set),
    )


def main(argv: list[str] | None = None) -> None:
    a = parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = config_from_args(a)
    t0 = time.perf_counter()

    def log(m: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f}s] {m}", file=sys.stderr, flush=True)

    res = run_benchmark(a.work, cfg, log)
    if a.det_difficulties and "det" not in cfg.boxes:
        det_cfg = dataclasses.replace(
            cfg, boxes=("det",), difficulties=tuple(a.det_difficulties.split(","))
        )
        more = run_benchmark(a.work, det_cfg, log)
        res = BenchResult(res.rows + more.rows, res.scenes, res.pretrain)
    print(f"command: python {' '.join(sys.argv)}")
    harness.print_machine()
    print("scenes (train = pretraining only; the others are held out):")
    print(format_scenes(res, cfg))
    print(f"pretrain: {json.dumps(res.pretrain)}")
    print(
        f"detector: imgsz {cfg.detect.imgsz}, conf {cfg.detect.conf}; tracker features "
        f"{cfg.track_features}; association mode {cfg.associate.mode}; geometry "
        f"{'one per scene (motion-only tracks)' if cfg.shared_geometry else 'per encoder'}\n"
    )
    per_scene = {"rows": [dataclasses.asdict(r) for r in res.rows]}
    results = harness.Results(a.json, info=per_scene)
    results.table("pipeline", table_rows(res), TABLE_FORMATS, title=False)
    paired = format_paired(res)
    if paired:
        print(f"\nper held-out scene, cues both:\n{paired}")
    print(f"\ntotal {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    try:
        main()
    except McmotError as exc:
        sys.exit(f"error: {exc}")
