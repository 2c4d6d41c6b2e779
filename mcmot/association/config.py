"""The frozen configuration of ``mcmot associate``."""

from __future__ import annotations

from dataclasses import dataclass, field

from mcmot.association.geometry import GeometryConfig
from mcmot.timebase import frames_at_least_one

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
        paired them in more than this share of their common frames (a
        majority vote) [0.5]
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
    reentry : join groups that never share a frame by appearance when the
        evidence is strong (a person who left every view and came back) [True]
    split_switches : split a tracklet where the identity of its cross-view
        partners changes (a tracker's identity switch), then regroup [True]
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
    link_threshold: float = 0.5
    evidence_prior: float = 0.3
    gate_scale: float = 2.0
    appearance_full_separation: float = 3.0
    appearance_weight: float | None = None
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
