"""Calibration-free cross-view geometry learned from synchronization.

For each camera pair (a, b) a ground-plane homography ``H`` maps a person's
foot point (the bottom centre of the box) in a to the same person's foot point
in b. Nothing but the scene's own synchronized boxes is used: no identities,
no camera parameters. People stand on one floor, so their feet at one instant
are images of ground-plane points seen by both cameras; among all same-instant
pairs of feet, the true correspondences are the ones that one homography
explains.

Fitting (:func:`fit_pair`)
    1. Candidates: every pair of feet of the same frame, boxes cut off by the
       image border left out.
    2. Vectorised RANSAC: thousands of 4-point hypotheses at once (batched
       DLT), half drawn uniformly, half guided by tracklets (two points from
       each of two co-occurring tracklet pairs, so a hypothesis is right when
       two tracklet pairs are). Hypotheses that flip orientation (impossible
       for two cameras above one floor) or are near-degenerate are dropped.
       Each is scored on a subsample (MSAC, each foot counted once), the best
       few on all candidates.
    3. Refinement: one-to-one inliers per frame, least-squares refit, repeated.
    Errors are measured in units of the box height in the target view
    (symmetric: the larger of both directions), so one threshold fits near
    and far people.

Quality (:class:`PairQuality`)
    inlier rate (matches found over matches possible), median transfer error,
    and the synchronization gap: the matching cost at the true instant against
    the cost when one view is shifted by 5 to 20 frames (Self-MVA's pretext
    signal). A right homography explains the true instant much better than a
    shifted one; a pair without overlap, or a moving camera, does not. The
    pair's weight in association grows with that gap, and needs the matched
    tracklet pairs to last (persistence) and the feet the homography sends
    into the other view to find a partner there (coverage).

Moving cameras
    Unless cameras are declared static, windows of frames get their own
    homographies when they explain held-out frames beyond chance better than
    the whole-recording one, each extra homography paying for itself; each
    window then gets its own weight (a window that no homography explains is
    switched off).

Modules: :mod:`~mcmot.association.homography` (fitting: DLT, candidates,
RANSAC, refinement), :mod:`~mcmot.association.quality` (synchronization test,
persistence, coverage, trust), :mod:`~mcmot.association.windows` (moving cameras);
this module ties them into :func:`fit_pair` / :func:`fit_scene` and reads and
writes ``geometry.json``. Settings: :class:`mcmot.association.config.GeometryConfig`.
"""

from __future__ import annotations

import json
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from mcmot.association.config import GeometryConfig
from mcmot.association.data import CameraObs
from mcmot.association.homography import FloatArray, fit_homography
from mcmot.association.quality import PairQuality, measure_quality
from mcmot.association.windows import FOREVER, WindowFit, window_fits
from mcmot.atomic import write_json
from mcmot.errors import McmotError
from mcmot.progress import ProgressCallback, ProgressEvent
from mcmot.runtimes import usable_cores


@dataclass(frozen=True)
class PairGeometry:
    """The fitted geometry of cameras (a, b): ``H`` maps a's feet to b's.

    ``windows`` is empty for a static pair; otherwise it covers the frames and
    each window's own homography and weight replace the global ones.
    """

    a: str
    b: str
    H: FloatArray
    quality: PairQuality
    moving: bool = False
    windows: tuple[WindowFit, ...] = field(default_factory=tuple)

    def why(self) -> str:
        """One line: why association trusts the pair, or does not."""
        if not self.windows:
            return self.quality.reason
        trusted = sum(w.quality.weight > 0 for w in self.windows)
        size = self.windows[0].end - self.windows[0].start + 1
        line = f"moving: {trusted}/{len(self.windows)} windows of {size} frames trusted"
        whole = sum(w.quality == self.quality for w in self.windows)
        return line + (f" ({whole} on the whole-recording fit)" if whole else "")

    def with_fallbacks(self) -> PairGeometry:
        """The windows switched off (by their own test or the loop check) take the
        whole-recording fit when that is trusted: a camera that moved little
        enough for one homography to pass over the whole recording is better
        served by it than by nothing (:func:`fall_back`)."""
        return replace(self, windows=tuple(fall_back(w, self) for w in self.windows))

    def segments(self) -> list[tuple[int, int, FloatArray, PairQuality]]:
        """(start, end, H, quality) pieces covering the pair's frames."""
        if not self.windows:
            return [(-FOREVER, FOREVER, self.H, self.quality)]
        return [(w.start, w.end, w.H, w.quality) for w in self.windows]

    def reversed(self) -> PairGeometry:
        """The same geometry seen from camera b: (b, a), every homography inverted."""
        wins = tuple(WindowFit(w.start, w.end, np.linalg.inv(w.H), w.quality) for w in self.windows)
        return PairGeometry(self.b, self.a, np.linalg.inv(self.H), self.quality, self.moving, wins)


#: Every camera pair's geometry, keyed by (camera a, camera b).
Geometry = dict[tuple[str, str], PairGeometry]


def fall_back(w: WindowFit, g: PairGeometry) -> WindowFit:
    """Window ``w`` of pair ``g``, or when it is switched off and ``g``'s
    whole-recording fit is trusted, that fit over the window's frames."""
    if w.quality.weight > 0 or g.quality.weight <= 0:
        return w
    return replace(w, H=g.H, quality=g.quality)


# ---------------------------------------------------------------- fitting
def fit_pair(
    a: CameraObs, b: CameraObs, cfg: GeometryConfig, *, static: bool = False, fps: float = 10.0
) -> PairGeometry:
    """Fit and assess the geometry of cameras (a, b); see the module docstring.

    ``fps`` (frames per second) turns the durations of ``cfg`` into frames.
    """
    rng = np.random.default_rng(cfg.seed)
    H = fit_homography(a, b, cfg, rng)
    q = measure_quality(a, b, H, cfg, fps)
    Hout = H if H is not None else np.eye(3)
    if static:
        return PairGeometry(a.name, b.name, Hout, q)
    windows = window_fits(a, b, H, cfg, fps, rng)
    if windows is None:
        return PairGeometry(a.name, b.name, Hout, q)
    return PairGeometry(a.name, b.name, Hout, q, moving=True, windows=tuple(windows))


def fit_scene(
    obs: list[CameraObs],
    cfg: GeometryConfig,
    *,
    static: bool = False,
    fps: float = 10.0,
    progress: ProgressCallback | None = None,
    workers: int | None = None,
) -> dict[tuple[str, str], PairGeometry]:
    """Fit every camera pair (a before b in ``obs`` order).

    Each pair draws from its own generator (seeded with ``cfg.seed``), so the
    pairs are independent and fitted in parallel: ``workers`` forked processes
    (None = one per usable core, at most one per pair; 1 = in this process).
    The result is the same whatever the number of processes. Static pairs fit
    in a fraction of a second and always run here; the search for moving
    cameras' windows is what the processes share. Without a safe fork (not
    Linux, or torch's thread pools live in this process, as in ``mcmot run``)
    every pair runs here.
    """
    pairs = [(i, j) for i in range(len(obs)) for j in range(i + 1, len(obs))]
    if workers is None:
        fork_ok = sys.platform == "linux" and "torch" not in sys.modules
        workers = min(len(pairs), usable_cores()) if fork_ok and not static else 1
    fits: list[PairGeometry | None] = [None] * len(pairs)

    def done(n: int) -> None:
        if progress is not None:
            progress(ProgressEvent("geometry", n, len(pairs)))

    if workers <= 1 or len(pairs) <= 1:
        for n, (i, j) in enumerate(pairs):
            fits[n] = fit_pair(obs[i], obs[j], cfg, static=static, fps=fps)
            done(n + 1)
    else:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork")) as pool:
            jobs = {
                pool.submit(fit_pair, obs[i], obs[j], cfg, static=static, fps=fps): n
                for n, (i, j) in enumerate(pairs)
            }
            for finished, job in enumerate(as_completed(jobs), start=1):
                fits[jobs[job]] = job.result()
                done(finished)
    return {
        (obs[i].name, obs[j].name): fit
        for (i, j), fit in zip(pairs, fits, strict=True)
        if fit is not None
    }


# ---------------------------------------------------------------- saving / loading
def _quality_dict(q: PairQuality) -> dict[str, Any]:
    d = asdict(q)
    return {k: (None if isinstance(v, float) and not np.isfinite(v) else v) for k, v in d.items()}


def geometry_to_json(pairs: dict[tuple[str, str], PairGeometry]) -> dict[str, Any]:
    """A JSON-ready description of fitted pairs."""
    items = []
    for (a, b), g in pairs.items():
        items.append(
            {
                "a": a,
                "b": b,
                "H": np.asarray(g.H).tolist(),
                "moving": g.moving,
                "quality": _quality_dict(g.quality),
                "windows": [
                    {"start": w.start, "end": w.end, "H": w.H.tolist(), "quality": qd}
                    for w in g.windows
                    for qd in [_quality_dict(w.quality)]
                ],
            }
        )
    return {
        "format": "mcmot-geometry-1",
        "description": "H maps foot points (box bottom centres) of camera a to camera b",
        "pairs": items,
    }


def save_geometry(path: Path, pairs: dict[tuple[str, str], PairGeometry]) -> None:
    """Write ``pairs`` to ``path`` atomically."""
    write_json(path, geometry_to_json(pairs))


def _quality_from(d: dict[str, Any]) -> PairQuality:
    fields = PairQuality.__dataclass_fields__
    vals = {k: (float("nan") if v is None else v) for k, v in d.items() if k in fields}
    if "shifts" in vals:
        vals["shifts"] = tuple(int(x) for x in vals["shifts"])
    return PairQuality(**vals)


def _matrix(value: Any, path: Path) -> FloatArray:
    H = np.asarray(value, dtype=np.float64)
    if H.shape != (3, 3) or not np.all(np.isfinite(H)):
        raise McmotError(f"{path}: every H must be a finite 3x3 matrix")
    return H


def load_geometry(path: Path) -> dict[tuple[str, str], PairGeometry]:
    """Read a geometry file written by :func:`save_geometry`."""
    try:
        data = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise McmotError(f"geometry file not found: {path}") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise McmotError(f"cannot read geometry file {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("pairs"), list):
        raise McmotError(f"{path} is not a geometry file (expected a 'pairs' list)")
    out: dict[tuple[str, str], PairGeometry] = {}
    try:
        for p in data["pairs"]:
            windows = tuple(
                WindowFit(int(w["start"]), int(w["end"]), _matrix(w["H"], path), _quality_from(q))
                for w in p.get("windows", [])
                for q in [w["quality"]]
            )
            out[(str(p["a"]), str(p["b"]))] = PairGeometry(
                str(p["a"]),
                str(p["b"]),
                _matrix(p["H"], path),
                _quality_from(p["quality"]),
                bool(p.get("moving", False)),
                windows,
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise McmotError(f"{path}: malformed pair entry ({exc})") from None
    return out
