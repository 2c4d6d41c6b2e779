"""The trackers' settings: DeepSORT's :class:`TrackerConfig` (with the filter's
:class:`KalmanConfig`), SSAT's :class:`SsatConfig` and the learned tracker's
:class:`LearnedConfig`.

Plain frozen dataclasses that import nothing heavy, so the ``mcmot track``
command can show their defaults without loading the tracker (scipy, filterpy).
"""

from __future__ import annotations

from dataclasses import dataclass

from mcmot.config import check_types
from mcmot.errors import McmotError
from mcmot.timebase import check_fps


@dataclass(frozen=True)
class KalmanConfig:
    """Noise parameters of the filter (defaults: the original DeepSORT code).

    Attributes
    ----------
    std_weight_position : position noise standard deviation per pixel of box height (1/20)
    std_weight_velocity : velocity noise standard deviation per pixel of box height (1/160)
    std_aspect : measurement noise of the aspect ratio (1e-1)
    std_aspect_process : process noise of the aspect ratio (1e-2)
    std_aspect_velocity : process noise of the aspect ratio's velocity (1e-5)
    init_position_factor : initial position std is this times the measurement noise (2)
    init_velocity_factor : initial velocity std is this times the velocity noise (10)
    dt : time step in frames (1)
    reference_fps : the frame rate whose frames the noise above is per (10): footage
        sampled more sparsely predicts ``round(reference_fps / fps)`` of these frames
        per video frame (5 at 2 frames/s; 1 from 7 frames/s up), so the filter's
        uncertainty grows with the time that passed, not with the frames counted
    """

    std_weight_position: float = 1.0 / 20
    std_weight_velocity: float = 1.0 / 160
    std_aspect: float = 1e-1
    std_aspect_process: float = 1e-2
    std_aspect_velocity: float = 1e-5
    init_position_factor: float = 2.0
    init_velocity_factor: float = 10.0
    dt: float = 1.0
    reference_fps: float = 10.0


#: Costs of the motion-only matching cascade (see ``TrackerConfig.motion_cost``).
MOTION_COSTS = ("auto", "mahalanobis", "iou", "hybrid")


@dataclass(frozen=True)
class TrackerConfig:
    """DeepSORT parameters; defaults from the paper and its reference code.

    Attributes
    ----------
    max_cosine_distance : appearance gate: largest accepted cosine distance (0.2)
    nn_budget : features kept per track gallery, most recent first (100)
    max_iou_distance : largest accepted ``1 - IoU`` in the IoU stage (0.7)
    fps : frames per second of the video; None = the rate stored in the
        scene's video, else 10 (``mcmot.timebase``); it turns the durations
        below into frames
    max_age_seconds : seconds a confirmed track survives without detections
        (3.0: DeepSORT's 30 frames at 10 frames/s); in frames (rounded, at
        least 1) also the depth of the matching cascade
    n_init_seconds : how long a new track must be hit in consecutive frames
        to be confirmed (0.3: DeepSORT's 3 frames at 10 frames/s; rounded up
        to frames, at least 1, so at 2 frames/s one hit confirms)
    min_confidence : detections scoring below this are ignored (0.3, as the
        reference code runs MOT16; scores on another scale need another value)
    min_height : detections shorter than this many pixels are ignored (0)
    motion_max_distance : motion-only cascade (no features), ``motion_cost =
        "mahalanobis"``: largest accepted squared Mahalanobis distance as a
        fraction of the gate (1.0 = the gate)
    motion_cost : the cascade's cost without features: "iou" (``1 - IoU`` with
        the predicted box, Mahalanobis-gated, accepted up to ``max_iou_distance``;
        better IDF1, MOTA and HOTA on PETS09-S2L1 with ACF detections, see
        docs/tracking.md), "mahalanobis" (the paper's motion-only metric,
        lambda = 1: squared distance / gate), "hybrid" (IoU for the tracks seen
        in the previous frame, whose predicted box is reliable; the Mahalanobis
        cost, whose covariance grows with the gap, for tracks missed longer) or
        "auto" [default]: "iou", except when the tracker's steps are sparse, below
        7 per second (footage at 2 frames/s, or 10 frames/s with ``detect --stride
        2``), where one person's boxes rarely overlap from step to step:
        "mahalanobis" (on synthetic development scenes at 2 frames/s IDF1 0.76
        against 0.50, at 10 frames/s with strides 2 and 3 0.82 and 0.78 against
        0.76 and 0.60; docs/tracking.md)
    kalman : noise parameters of the Kalman filter
    cosine_gate_quantile : a quantile q in (0, 1) [0.05], or None (use
        ``max_cosine_distance`` as given): ``mcmot.stages.track.run_track``
        replaces ``max_cosine_distance`` by the q-quantile of the cosine
        distances between detections of the same frame of that video (known
        different people; no labels), see ``mcmot.tracking.calibrate`` and
        docs/tracking.md. The default because self-supervised features are not
        re-ID features (most different-person pairs fall under DeepSORT's 0.2)
        and it beat the fixed gate on both PETS detection sources; the online
        ``Tracker`` itself always uses ``max_cosine_distance``
    low_confidence : None (off) or a score below ``min_confidence``: detections
        scoring in ``[low_confidence, min_confidence)`` get BYTE's second
        association (IoU with the confirmed tracks left unmatched that were seen in
        the previous frame, up to ``low_max_iou_distance``); they update the Kalman
        state but never start a track and never enter a feature gallery
    low_max_iou_distance : largest ``1 - IoU`` accepted in that stage (0.5, BYTE's
        second-stage threshold)
    motion_weight : with features, lambda of DeepSORT's eq. 5 [0.0, the paper's
        setting]: the cascade ranks the admissible pairs by ``lambda * m + (1 -
        lambda) * d``, with ``d`` the cosine distance and ``m`` the motion-only
        cascade's cost (``motion_cost``) divided by its threshold and capped at 1.
        Which pairs are admissible does not change (inside the Mahalanobis gate
        and the cosine gate); only who wins among them. With perfect boxes and
        look-alike people, motion tells neighbours apart better than appearance
    emit_tentative : hand out, once a track is confirmed, the rows of its
        ``n_init - 1`` tentative frames (``Tracker.pop_recovered``); an offline
        output option: the online ``update`` result is unchanged
    appearance_weight : with features, the appearance cue's weight w in [0, 1], or
        None [default]: ``mcmot.stages.track.run_track`` sets it per camera from
        the label-free separation of that video's features
        (``mcmot.tracking.calibrate.calibrate_appearance``); the online
        ``Tracker`` reads None as 1. For 0 <= w < 1 the cascade's cost is the
        motion-only cost divided by its threshold, ``m``, shifted by appearance:
        ``m + w * (min(d / max_cosine_distance, 2) - 1)`` with ``d`` the cosine
        distance, accepted up to 1: an identical look lowers the cost by w, a
        distance at the gate leaves it, twice the gate or more raises it by w.
        So w = 0 is the motion-only cascade (features unused) and appearance can
        never move a pair by more than w thresholds. w = 1 is DeepSORT's
        appearance cascade (cosine cost, cosine gate, motion only gates). With
        ``motion_weight`` > 0 the cascade is DeepSORT's eq. 5 instead and w only
        switches appearance off (0) or on
    calibration_seconds : None [default: the whole recording], or the first this
        many seconds of each camera (frames ``1 .. frames_at_least_one(s)``): the
        detections the appearance gate and weight are calibrated on. The streaming
        run (``mcmot run --online``) calibrates on its warm-up buffer, so it uses
        the associator's ``online_warmup`` when this is None
    """

    max_cosine_distance: float = 0.2
    nn_budget: int | None = 100
    max_iou_distance: float = 0.7
    fps: float | None = None
    max_age_seconds: float = 3.0
    n_init_seconds: float = 0.3
    min_confidence: float = 0.3
    min_height: float = 0.0
    motion_max_distance: float = 1.0
    motion_cost: str = "auto"
    kalman: KalmanConfig = KalmanConfig()
    cosine_gate_quantile: float | None = 0.05
    low_confidence: float | None = None
    low_max_iou_distance: float = 0.5
    emit_tentative: bool = False
    motion_weight: float = 0.0
    appearance_weight: float | None = None
    calibration_seconds: float | None = None

    def __post_init__(self) -> None:
        check_types(self)
        check_fps(self.fps)
        checks = [
            (0 <= self.max_cosine_distance <= 2, "max_cosine_distance must be in [0, 2]"),
            (self.nn_budget is None or self.nn_budget >= 1, "nn_budget must be at least 1"),
            (0 <= self.max_iou_distance <= 1, "max_iou_distance must be in [0, 1]"),
            (0 <= self.max_age_seconds <= 1e6, "max_age_seconds must be in [0, 1e6]"),
            (0 < self.n_init_seconds <= 1e6, "n_init_seconds must be in (0, 1e6]"),
            (self.min_height >= 0, "min_height must be 0 or more"),
            (self.motion_max_distance > 0, "motion_max_distance must be positive"),
            (self.motion_cost in MOTION_COSTS, f"motion_cost must be one of {MOTION_COSTS}"),
            (
                self.cosine_gate_quantile is None or 0 < self.cosine_gate_quantile < 1,
                "cosine_gate_quantile must be in (0, 1)",
            ),
            (
                self.low_confidence is None or self.low_confidence < self.min_confidence,
                "low_confidence must be below min_confidence",
            ),
            (0 <= self.low_max_iou_distance <= 1, "low_max_iou_distance must be in [0, 1]"),
            (0 <= self.motion_weight <= 1, "motion_weight must be in [0, 1]"),
            (
                0 < self.kalman.reference_fps <= 1000,
                "kalman.reference_fps must be in (0, 1000]",
            ),
            (
                self.appearance_weight is None or 0 <= self.appearance_weight <= 1,
                "appearance_weight must be in [0, 1]",
            ),
            (
                self.calibration_seconds is None or 0 < self.calibration_seconds <= 1e6,
                "calibration_seconds must be in (0, 1e6]",
            ),
        ]
        for ok, message in checks:
            if not ok:
                raise McmotError(f"tracker config: {message}")


@dataclass(frozen=True)
class SsatConfig:
    """SSAT tracker settings (defaults: the paper's).

    Attributes
    ----------
    tau1 : largest accepted D between a tracked track and a detection (0.56)
    tau2 : largest accepted D between a lost track and a detection (0.64)
    alpha : the box distance's scale, in track perimeters (2)
    ema : weight of a new detection's feature in the track's average (0.4);
        1 keeps only the latest (the paper's ablation without EMA)
    box_cost : add D_bbox (False: appearance alone, the paper's ablation)
    max_age_seconds : a track lost this long is dropped (3 s: 30 frames at 10 frames/s)
    min_confidence : detections scoring below are ignored (0.3, as DeepSORT's)
    fps : frames per second; None = the scene's video rate, else 10
    """

    tau1: float = 0.56
    tau2: float = 0.64
    alpha: float = 2.0
    ema: float = 0.4
    box_cost: bool = True
    max_age_seconds: float = 3.0
    min_confidence: float = 0.3
    fps: float | None = None

    def __post_init__(self) -> None:
        check_types(self)
        check_fps(self.fps)
        for name, ok, bounds in [
            ("tau1", self.tau1 >= 0, "0 or more"),
            ("tau2", self.tau2 >= 0, "0 or more"),
            ("alpha", self.alpha > 0, "above 0"),
            ("ema", 0 < self.ema <= 1, "above 0, at most 1"),
            ("max_age_seconds", self.max_age_seconds >= 0, "0 or more"),
            ("min_confidence", 0 <= self.min_confidence <= 1, "0 to 1"),
        ]:
            if not ok:
                flag = name.replace("_", "-")
                raise McmotError(f"--{flag} must be {bounds}, got {getattr(self, name)}")


#: Which of the learned tracker's matchers decide.
MATCHERS = ("both", "visual", "spatial")


@dataclass(frozen=True)
class LearnedConfig:
    """Settings of the learned tracker (cross-input consistency, mcmot.tracking.learned).

    Attributes
    ----------
    model : the checkpoint of ``mcmot pretrain --objective cross-input`` (required)
    min_logit : None (no gate: the default, which beat the released code's 0 and
        -2 on the development half of PETS09-S2L1, see docs/tracking.md) or a score:
        a pair a deciding matcher scores below it is never matched
    matchers : "both" (``M = min(A, B)``, the paper), or one half alone: "visual"
        (crops) or "spatial" (boxes)
    lags : the visual score of a track is the mean over its detections this many
        detections back (1 = the latest; the released code's 1, 2, 4, 8, 16)
    max_age_seconds : a track lost this long is dropped (1 s)
    max_speed : how far a person can move in a second, in box sizes (2): a track
        never takes a detection whose centre is farther from its last box's than
        ``0.5 + max_speed * t`` box sizes (a box's longer side, the larger of the
        two boxes'), ``t`` the seconds since its last detection; 0 = no limit
        (the paper)
    exit_seconds : a track missed for more than this many seconds is no longer
        matched across the frame's border (within 3% of the image's shorter side):
        if its last box touches the border it has left the view and takes no
        detection, and a detection touching the border is someone entering, not
        it (0.3); 0 = never (the paper)
    n_init_seconds : 0 (the paper, the default): every detection is written from
        its first frame; else DeepSORT's confirmation: a new track is written from
        the frame in which it has been matched in this many seconds of consecutive
        frames (rounded up to frames, at least one) and dropped when missed before
        then (0.3 is DeepSORT's; see docs/tracking.md for when it helps)
    min_confidence : detections scoring below are ignored (0.3, as DeepSORT's)
    fps : frames per second; None = the scene's video rate, else 10
    """

    model: str | None = None
    min_logit: float | None = None
    matchers: str = "both"
    lags: tuple[int, ...] = (1, 2, 4, 8, 16)
    max_age_seconds: float = 1.0
    max_speed: float = 2.0
    exit_seconds: float = 0.3
    n_init_seconds: float = 0.0
    min_confidence: float = 0.3
    fps: float | None = None

    def __post_init__(self) -> None:
        check_types(self)
        check_fps(self.fps)
        if self.model is None:
            raise McmotError(
                "--tracker learned needs --model RUN/checkpoint.pt "
                "(from `mcmot pretrain SCENE --objective cross-input --out RUN`)"
            )
        lags_ok = isinstance(self.lags, tuple) and len(self.lags) > 0
        lags_ok = lags_ok and all(isinstance(k, int) and k >= 1 for k in self.lags)
        for name, ok, bounds in [
            ("lags", lags_ok, "one or more whole numbers >= 1"),
            ("matchers", self.matchers in MATCHERS, " or ".join(MATCHERS)),
            ("max_age_seconds", self.max_age_seconds >= 0, "0 or more"),
            ("max_speed", self.max_speed >= 0, "0 or more"),
            ("exit_seconds", self.exit_seconds >= 0, "0 or more"),
            ("n_init_seconds", 0 <= self.n_init_seconds <= 1e6, "0 to 1e6"),
            ("min_confidence", 0 <= self.min_confidence <= 1, "0 to 1"),
        ]:
            if not ok:
                flag = name.replace("_", "-")
                raise McmotError(f"--{flag} must be {bounds}, got {getattr(self, name)}")
