"""The frozen configuration of ``mcmot associate``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mcmot.errors import McmotError
from mcmot.timebase import check_fps, frames_at_least_one


@dataclass(frozen=True)
class GeometryConfig:
    """Parameters of geometry fitting (defaults in brackets).

    Attributes
    ----------
    inlier_threshold : RANSAC inlier threshold on the transfer error, in box
        heights of the target view [0.25]; people closer than a quarter of
        their height share a floor spot only when they touch
    hypotheses : number of RANSAC hypotheses [6000]
    guided_fraction : share of hypotheses sampled from tracklet pairs [0.5]
    prescore_candidates : candidates used to pre-score all hypotheses [1000]
    finalists : best pre-scored hypotheses that are refined; the one with
        the most one-to-one matches is refined on all candidates [32]. The
        budget (6000 / 1000 / 32 rather than 3000 / 4000 / 8) comes from
        benchmarks/bench_geometry_synth.py: fewer pairs land in a wrong
        basin for some random seed (6 of 78 development pairs rather than
        11) at about the same cost (docs/association.md)
    refine_iterations : rounds of inlier matching and least-squares refit [3]
    max_frames : frames used for fitting (evenly subsampled beyond) [1500]
    min_matches : fewer one-to-one inliers than this = no geometry [12]
    sync_shifts : time shifts (seconds) used for the synchronization gap; empty
        = chosen by motion [()]: the ``sync_shift_count`` shifts at which the
        most feet of the pair have moved at least ``sync_min_motion`` (so the
        test works whether people cross the frame in a second or take a
        minute, at 2 or 30 frames/s)
    sync_shift_count : shifts chosen by motion [4]
    sync_min_motion : only feet whose person moves at least this many box
        heights by the shifted instant count in the gap [0.5]; a pair with
        fewer than ``min_matches`` such feet cannot be tested and is left to
        appearance
    min_excess : support at the true instant minus at shifted ones below this
        switches the pair off [0.08]: a homography fitted to chance
        coincidences of unrelated views explains few moving feet (excess
        0.00-0.09 measured), the true PETS09 pairs 0.29-0.67; persistence
        catches the chance fits between 0.08 and 0.15, which used to switch
        off right pairs of small overlap
    full_trust_gap : a gap at or above this gives weight 1 [0.7]
    min_persistence, full_persistence : the weight is also 0 below a
        persistence of ``min_persistence`` and rises to full at
        ``full_persistence`` [0.5, 0.6]. Persistence: for each pair of
        tracklets the homography links, the share of the frames in which
        both are seen that it links them in, averaged over the matches. A
        true correspondence lasts as long as both cameras see the person, a
        chance coincidence does not, and a one-frame coincidence of two long
        tracklets weighs one match, so the figure does not fall on long
        recordings. The ramp is low because wrong and right fits overlap
        widely above it (30 hard development scenes, detector boxes: wrong
        0.34-1.0, right 0.60-1.0; identity switches of a real tracker lower a
        right pair's figure): a ramp at 0.7-0.8 switched off more right pairs
        than wrong ones weighed, and cost hard scenes 0.016 (ideal boxes) to
        0.033 (detector boxes) AIDF1 (docs/association.md). Not applied to
        the windows of moving cameras: within a few seconds a chance
        coincidence of a slow group lasts too
    min_coverage, full_coverage : the persistence ramp's weight is multiplied
        by a ramp of the coverage from ``min_coverage`` to ``full_coverage``
        [0.55, 0.65]. Coverage: of the usable feet the homography sends
        inside the other view's image, the share whose tracklet a match gives
        a partner there within ``coverage_window`` (both ways). A true
        homography predicts where the other camera sees each person, so only
        occlusion and missed detections leave feet unpartnered; a fit to
        chance coincidences of views that share few people sends many feet
        where the other camera sees nobody (30 hard development scenes: the
        ramp halves the trusted-but-wrong pairs with ideal boxes,
        docs/association.md). Not applied to the windows of moving cameras
    coverage_window : seconds either side of a foot within which a match of
        its tracklet counts as its partner [0.5]: a detector that misses a
        person for a few frames does not count against a right fit
    min_holdout, full_holdout : the persistence ramp's weight is multiplied
        by a ramp of the holdout from ``min_holdout`` to ``full_holdout``
        [0.35, 0.45]. Holdout: of the matches, the share that a homography
        refitted on the other linked tracklet pairs' matches predicts. A true
        homography maps the whole floor, so the other people predict each
        person's match; a fit that bends to a few chance coincidences
        predicts none of them from the rest (30 hard development scenes:
        with the coverage ramp, it halves the trusted-but-wrong pairs with
        ideal and with detector boxes, docs/association.md). Not applied to
        the windows of moving cameras
    holdout_pairs : fewest linked tracklet pairs for the holdout to be judged
        [4]; with fewer, the rest cannot pin a plane map down
    min_decisive_excess, full_decisive_excess : an excess this large is
        evidence enough on its own, whatever the persistence, coverage and
        holdout:
        the product of their ramps is raised to a ramp of the excess from
        ``min_decisive_excess`` to ``full_decisive_excess`` [0.45, 0.55].
        No wrong fit on the development scenes reached an excess of 0.46
        (chance fits of unrelated toy views 0.00-0.09); right pairs whose
        tracklets are short or break often (2 frames/s, long crowded real
        recordings) reach 0.6-0.8 with persistence 0.7-0.8
    min_gap : a gap below this switches the pair (or window) off [0.5]; the
        true pairs of PETS09 reach 0.96-0.99, a homography fitted to chance
        coincidences of unrelated toy views 0.04-0.77 (it was chosen to
        explain the true instant), hence also ``min_excess``
    windows : window lengths (seconds) tried for moving cameras [2, 5, 15];
        each window's homography is fitted on half its frames and scored on
        the other half, and the length whose windows explain the held-out
        frames best is kept (label-free; lengths giving more than
        ``max_windows`` windows or fewer than 2 are skipped)
    max_windows : most windows per pair [24]
    border_margin : pixels from the border within which a box is cut off [3.0]
    seed : random seed of the sampling [0]
    """

    inlier_threshold: float = 0.25
    hypotheses: int = 6000
    guided_fraction: float = 0.5
    prescore_candidates: int = 1000
    finalists: int = 32
    refine_iterations: int = 3
    max_frames: int = 1500
    min_matches: int = 12
    sync_shifts: tuple[float, ...] = ()
    sync_shift_count: int = 4
    sync_min_motion: float = 0.5
    min_excess: float = 0.08
    full_trust_gap: float = 0.7
    min_persistence: float = 0.5
    full_persistence: float = 0.6
    min_coverage: float = 0.55
    full_coverage: float = 0.65
    coverage_window: float = 0.5
    min_holdout: float = 0.35
    full_holdout: float = 0.45
    holdout_pairs: int = 4
    min_decisive_excess: float = 0.45
    full_decisive_excess: float = 0.55
    min_gap: float = 0.5
    windows: tuple[float, ...] = (2.0, 5.0, 15.0)
    max_windows: int = 24
    border_margin: float = 3.0
    seed: int = 0


#: GeometryConfig fields that must be positive integers.
_POSITIVE_INTS = (
    "hypotheses", "prescore_candidates", "finalists", "refine_iterations", "max_frames",
    "min_matches", "sync_shift_count", "max_windows", "holdout_pairs",
)  # fmt: skip
#: GeometryConfig fields that must be positive numbers.
_POSITIVE_FLOATS = ("inlier_threshold", "full_trust_gap")


def _check_unit_ramp(cfg: GeometryConfig, lo: str, hi: str) -> None:
    """Both ends of a ramp in [0, 1], the first not above the second."""
    for name in (lo, hi):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v <= 1:
            raise McmotError(f"geometry {name} must be in [0, 1], got {v!r}")
    if getattr(cfg, lo) > getattr(cfg, hi):
        raise McmotError(
            f"geometry {lo} ({getattr(cfg, lo)}) must not exceed {hi} ({getattr(cfg, hi)})"
        )


def check_geometry_config(cfg: GeometryConfig) -> None:
    """Raise :class:`McmotError` (one line) for a value fitting cannot use."""
    for name in _POSITIVE_INTS:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise McmotError(f"geometry {name} must be a positive integer, got {v!r}")
    for name in _POSITIVE_FLOATS:
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not v > 0:
            raise McmotError(f"geometry {name} must be a positive number, got {v!r}")
    v = cfg.coverage_window
    if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e6:
        raise McmotError(f"geometry coverage_window must be a duration in seconds >= 0, got {v!r}")
    g = cfg.guided_fraction
    if isinstance(g, bool) or not isinstance(g, int | float) or not 0.0 <= g <= 1.0:
        raise McmotError(f"geometry guided_fraction must be in [0, 1], got {g!r}")
    for name in ("seed", "min_excess", "min_gap", "sync_min_motion", "border_margin"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise McmotError(f"geometry {name} must be a number, got {v!r}")
    for name, empty_ok in (("sync_shifts", True), ("windows", False)):
        v = getattr(cfg, name)
        if (
            not isinstance(v, tuple)
            or (not v and not empty_ok)
            or not all(_positive_number(x) for x in v)
        ):
            raise McmotError(
                f"geometry {name} must be a tuple of positive durations in seconds "
                f"(e.g. {name}=1,2.5), got {v!r}"
            )
    for lo, hi in (
        ("min_persistence", "full_persistence"),
        ("min_coverage", "full_coverage"),
        ("min_holdout", "full_holdout"),
        ("min_decisive_excess", "full_decisive_excess"),
    ):
        _check_unit_ramp(cfg, lo, hi)
    if cfg.min_gap > cfg.full_trust_gap:
        raise McmotError(
            f"geometry min_gap ({cfg.min_gap}) must not exceed full_trust_gap "
            f"({cfg.full_trust_gap})"
        )


def _positive_number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, int | float) and bool(np.isfinite(x)) and x > 0


CUES = ("appearance", "geometry", "both")
MODES = ("offline", "online")


@dataclass(frozen=True)
class AssociateConfig:
    """Parameters of cross-camera association (defaults in brackets).

    Thresholds that depend on the features or the scene are not here: the
    appearance decision threshold, the geometric gate and the re-entry
    threshold are calibrated on each scene's own similarity distributions
    (see ``docs/association.md``). What is left are rules, not scales.

    Attributes
    ----------
    features : which feature array of ``features/<cam>.npz`` to use ['f_a']
    cues : 'appearance', 'geometry' or 'both' ['both']
    mode : 'offline' (whole tracklets) or 'online' (frame by frame) ['offline']
    static_cameras : the user declares every camera still: one homography per
        pair, no moving-camera check [False]
    geometry_path : a geometry.json to reuse instead of fitting [None]
    feature_iou : a track row takes the feature of the det row of its frame
        with the largest IoU, if at least this [0.5]
    fps : frames per second of the scene; None = the rate stored in the
        videos, or 10 for a scene without videos [None]. It turns the
        durations below (seconds) into frames
    link_threshold : two groups of tracklets join when the per-frame matcher
        paired them in more than this share of their common frames [0.3]:
        not a majority, because one person's two tracklets go unmatched in
        many frames (boxes cut by the border or occluded, uneven floors),
        while two people are rarely matched in more than a few
    evidence_prior : seconds of 'no match' added to every vote count, so that a
        few common frames cannot outvote a long disagreement [0.3]
    gate_scale : the geometric score is 0.5 at this multiple of each pair's
        calibrated gate [2.0]: per-frame votes favour recall, because chance
        matches scatter over tracklets and are outvoted, while 10-20% of true
        pairs lie beyond the per-frame gate (uneven floors, box noise)
    appearance_full_separation : the separation d' of the same/different
        similarity modes at which appearance gets full weight [3.0]
    appearance_weight : with ``cues='both'``, the appearance cue's fusion
        weight in [0, 1] instead of the calibrated one (the geometric pairs
        keep theirs); None = calibrate on the scene [None]. Re-entry by
        appearance (``reentry``) has its own calibrated threshold and is not
        affected
    centre_features : before features are compared across cameras, each
        camera's mean feature (over the whole recording offline, over the
        warm-up online) is removed and the rows are L2-normalised again, so
        what every detection of a camera shares (its colour cast, background,
        viewpoint) does not count as likeness [True]
    reentry : join groups that never share a frame by appearance when the
        evidence is strong (a person who left every view and came back) [True]
    split_switches : split a tracklet where the identity of its cross-view
        partners changes (a tracker's identity switch), then regroup [True];
        online, a decided tracklet takes its partners' identity from then on
    split_min_seconds : seconds of matches each side of such a split needs, and
        the votes it must explain beyond keeping the tracklet whole [0.8]
    reentry_min_rows : a group needs this many feature rows to be joined by
        appearance alone [10]
    online_window : online mode, seconds of votes a new tracklet gathers before
        its identity is fixed [1.0]
    online_gallery : online mode, lost identities kept for re-entry [100]
    online_warmup : online mode, seconds buffered to fit geometry when no
        geometry file is given [30.0]
    geometry : geometry fitting parameters
    """

    features: str = "f_a"
    cues: str = "both"
    mode: str = "offline"
    static_cameras: bool = False
    geometry_path: str | None = None
    feature_iou: float = 0.5
    fps: float | None = None
    link_threshold: float = 0.3
    evidence_prior: float = 0.3
    gate_scale: float = 2.0
    appearance_full_separation: float = 3.0
    appearance_weight: float | None = None
    centre_features: bool = True
    reentry: bool = True
    split_switches: bool = True
    split_min_seconds: float = 0.8
    reentry_min_rows: int = 10
    online_window: float = 1.0
    online_gallery: int = 100
    online_warmup: float = 30.0
    geometry: GeometryConfig = field(default_factory=GeometryConfig)


@dataclass(frozen=True)
class FrameTimes:
    """The durations of an :class:`AssociateConfig` in frames, at one frame rate.

    Attributes
    ----------
    fps : the frame rate used
    evidence_prior : frames of 'no match' added to every vote count
    split_min_votes : frames of matches each side of a split needs
    online_window : frames a new tracklet gathers votes (online)
    online_warmup : frames buffered to fit geometry (online)
    """

    fps: float
    evidence_prior: float
    split_min_votes: int
    online_window: int
    online_warmup: int

    @classmethod
    def of(cls, cfg: AssociateConfig, fps: float) -> FrameTimes:
        """``cfg``'s durations at ``fps`` frames per second."""
        return cls(
            fps=fps,
            evidence_prior=cfg.evidence_prior * fps,
            split_min_votes=frames_at_least_one(cfg.split_min_seconds, fps),
            online_window=frames_at_least_one(cfg.online_window, fps),
            online_warmup=frames_at_least_one(cfg.online_warmup, fps),
        )


def check_associate_config(cfg: AssociateConfig) -> None:
    """Raise :class:`McmotError` (one line) for settings association cannot use."""
    if cfg.cues not in CUES:
        raise McmotError(f"--cues must be one of {', '.join(CUES)}, got {cfg.cues!r}")
    if cfg.mode not in MODES:
        raise McmotError(f"--mode must be one of {', '.join(MODES)}, got {cfg.mode!r}")
    w = cfg.appearance_weight
    if w is not None and not 0.0 <= w <= 1.0:
        raise McmotError(f"--appearance-weight must be in [0, 1], got {w}")
    check_fps(cfg.fps)
    for name in ("evidence_prior", "split_min_seconds", "online_window", "online_warmup"):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0 <= v < 1e6:
            raise McmotError(f"associate {name} must be a duration in seconds >= 0, got {v!r}")
    _check_rules(cfg)
    check_geometry_config(cfg.geometry)


def _check_rules(cfg: AssociateConfig) -> None:
    """The shares, scales, counts and switches of ``cfg``, each in its range."""
    for name, lo, hi in (("link_threshold", 0.0, 1.0), ("feature_iou", 0.0, 1.0)):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int | float) or not lo <= v <= hi:
            raise McmotError(f"associate {name} must be in [{lo:g}, {hi:g}], got {v!r}")
    for name in ("gate_scale", "appearance_full_separation"):
        if not _positive_number(getattr(cfg, name)):
            raise McmotError(
                f"associate {name} must be a positive number, got {getattr(cfg, name)!r}"
            )
    for name, least in (("online_gallery", 0), ("reentry_min_rows", 1)):
        v = getattr(cfg, name)
        if isinstance(v, bool) or not isinstance(v, int) or v < least:
            raise McmotError(f"associate {name} must be an integer >= {least}, got {v!r}")
    for name in ("static_cameras", "reentry", "split_switches"):
        if not isinstance(getattr(cfg, name), bool):
            raise McmotError(f"associate {name} must be true or false, got {getattr(cfg, name)!r}")
