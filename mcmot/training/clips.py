"""SSAT's clip classification (paper Sec. 3.2) as a trainer objective.

A sample is one image of one class (mcmot.stages.clips_data.ClipImages);
each step crops every image of the batch at a random place (drawn from the
step's own generator, so a resumed run continues exactly) and minimises
CosFace's large-margin cosine loss of the class. The step log holds ``lmcl``
(the loss) and ``acc`` (the share of the batch whose nearest class weight is
its own clip: with few classes it saturates early, which says the task has
become too easy for the footage given).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.models.checkpoint import SSAT, build_reid
from mcmot.models.clips_config import ClipsConfig
from mcmot.training.clip_images import ClipImages
from mcmot.training.distributed import Dist
from mcmot.training.objective import NothingToPrepare, autocast

#: Tags the random stream of the crops' places.
CROP_STREAM = 2


class ClipsObjective(NothingToPrepare):
    """Every clip its own class, over the images of some sources.

    Parameters
    ----------
    cfg : the run's settings
    data : the images and their classes
    dd : this process's place in the run
    device : where the batches go
    """

    kind = SSAT

    def __init__(self, cfg: ClipsConfig, data: ClipImages, dd: Dist, device: torch.device) -> None:
        self.cfg = cfg
        self.data = data
        self.dd = dd
        self.device = device
        self.labels = torch.from_numpy(data.labels)

    @property
    def settings(self) -> ClipsConfig:
        return self.cfg

    @property
    def num_samples(self) -> int:
        return len(self.data.labels)

    def build_model(self, weights: dict[str, torch.Tensor] | None) -> torch.nn.Module:
        """The network. With several processes on CUDA its batch norms are synchronised
        (every process normalises with the whole batch's statistics); on CPU, where torch
        cannot, each process keeps its own running statistics and the checkpoint holds
        rank 0's (the weights are the same in every process)."""
        net = build_reid(self.cfg, self.data.num_classes, weights)
        if self.dd.world > 1 and self.device.type == "cuda":
            return torch.nn.SyncBatchNorm.convert_sync_batchnorm(net)
        return net

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"classes": list(self.data.names)}

    def loss(
        self, model: torch.nn.Module, step: int, samples: NDArray[np.int64]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        rng = np.random.default_rng([self.cfg.seed, step, self.dd.rank, CROP_STREAM])
        crops = self.data.crops(samples, self.cfg.input_size, rng)
        images = torch.from_numpy(crops).to(self.device)
        labels = self.labels[samples].to(self.device)
        with autocast(self.device, self.cfg.amp):
            lmcl, acc = model(images, labels, self.cfg.s, self.cfg.m)
        return lmcl, {"lmcl": lmcl.detach(), "acc": acc}
