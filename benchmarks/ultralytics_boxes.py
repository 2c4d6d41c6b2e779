"""The boxes object ultralytics' trackers (BYTETracker, BOTSORT) read, built from numpy.

Shared by the tracking benchmarks that run those trackers as peers on the same
detections as ours.
"""

from __future__ import annotations

import numpy as np

#: ultralytics' default ByteTrack settings (its bytetrack.yaml).
BYTETRACK_ARGS: dict[str, object] = dict(
    track_high_thresh=0.25,
    track_low_thresh=0.1,
    new_track_thresh=0.25,
    track_buffer=30,
    match_thresh=0.8,
    fuse_score=True,
)

#: ultralytics' default BoT-SORT settings (botsort.yaml) on top of ByteTrack's, without
#: ReID and without camera-motion compensation (static camera, no frames passed).
BOTSORT_ARGS: dict[str, object] = dict(
    BYTETRACK_ARGS,
    gmc_method="none",
    proximity_thresh=0.5,
    appearance_thresh=0.8,
    with_reid=False,
    model="auto",
)


class UltralyticsBoxes:
    """The subset of ultralytics' ``Boxes`` its trackers read (numpy, tlwh in).

    Parameters
    ----------
    tlwh : (N, 4) boxes, top-left x, y, width, height
    conf : (N,) scores
    """

    def __init__(self, tlwh: np.ndarray, conf: np.ndarray) -> None:
        self.tlwh = np.asarray(tlwh, np.float32).reshape(-1, 4)
        self.conf = np.asarray(conf, np.float32)
        self.cls = np.zeros(len(self.conf), np.float32)
        self.xywh = self.tlwh.copy()
        self.xywh[:, :2] += self.xywh[:, 2:] / 2

    def __len__(self) -> int:
        return len(self.conf)

    def __getitem__(self, index: np.ndarray) -> UltralyticsBoxes:
        return UltralyticsBoxes(self.tlwh[index], self.conf[index])
