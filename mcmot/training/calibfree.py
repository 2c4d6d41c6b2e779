"""CalibFree's self-supervised pretraining (paper Sec. 3.2) as a trainer objective.

A sample is one timestep of one scene (mcmot.training.timesteps). Each step
gives every view of every timestep its own random detection order, draws the
masks (one per timestep, or per view with ``mask_per_view``) and, with
``recon_own_drop``, which detections are reconstructed from the other views
alone; the loss is the weighted sum of CalibFree's terms (``recon``, ``nmi``
and, with a teacher, ``distill``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from mcmot.models.calibfree import CalibFree
from mcmot.models.checkpoint import CALIBFREE, build_model
from mcmot.models.pretrain_config import PretrainConfig
from mcmot.models.tokens import normalize_crops, random_masking
from mcmot.training.distributed import Dist
from mcmot.training.objective import autocast
from mcmot.training.schedule import step_generator
from mcmot.training.targets import LazyTargets
from mcmot.training.timesteps import Batch, SceneCrops, collate

#: Tags the random stream of the per-view detection order (see ``collate``'s ``shuffle``).
SLOT_STREAM = 1


def other_views_seen(valid: torch.Tensor) -> torch.Tensor:
    """(B, V) bool: another view of the timestep has at least one valid detection.

    Only those views' detections may be reconstructed from the other views alone
    (``recon_own_drop``); in a single-camera scene nothing is dropped.

    Parameters
    ----------
    valid : (B, V, N) bool
    """
    seen = valid.any(dim=2).to(torch.int64)  # (B, V)
    return seen.sum(dim=1, keepdim=True) - seen > 0


class CalibFreeObjective:
    """The CalibFree objective over the timesteps of some scenes.

    Parameters
    ----------
    cfg : the run's settings
    scenes : the crops of each scene
    teachers : per scene, the teacher's patch features of its crops ((R, M, Dt),
        computed when a step first needs them), or None
    teacher_name : the teacher's name ("" for none), saved in the checkpoints
    dd : this process's place in the run
    device : where the batches go
    """

    kind = CALIBFREE

    def __init__(
        self,
        cfg: PretrainConfig,
        scenes: list[SceneCrops],
        teachers: list[LazyTargets] | None,
        teacher_name: str,
        dd: Dist,
        device: torch.device,
    ) -> None:
        self.cfg = cfg
        self.model_cfg = cfg.model_config()
        self.scenes = scenes
        self.teachers = teachers
        self.teacher_name = teacher_name
        self.dd = dd
        self.device = device
        self.index = [(s, t) for s, sc in enumerate(scenes) for t in range(len(sc.frames))]

    @property
    def settings(self) -> PretrainConfig:
        return self.cfg

    @property
    def num_samples(self) -> int:
        return len(self.index)

    def build_model(self, weights: dict[str, torch.Tensor] | None) -> CalibFree:
        return build_model(self.model_cfg, weights)

    def checkpoint_extras(self) -> dict[str, Any]:
        return {"teacher": self.teacher_name}

    def _rows(self, sample: int) -> tuple[int, NDArray[np.int32]]:
        """The scene of a sample and the crop rows of its detections."""
        s, t = self.index[sample]
        slots = self.scenes[s].slots[t]
        return s, slots[slots >= 0]

    def prepare(self, samples: NDArray[np.int64]) -> None:
        """Compute the teacher's targets of the samples' crops not computed yet."""
        if self.teachers is not None:
            for i in samples:
                s, rows = self._rows(int(i))
                self.teachers[s].ensure(rows)

    def pending_seconds(self, steps: Iterable[NDArray[np.int64]]) -> NDArray[np.float64]:
        """The teacher's time over the coming steps: new crops x the measured cost of one."""
        if self.teachers is None:
            return np.zeros(1)
        rate = [t.seconds_per_row() for t in self.teachers]
        seen = [t.done.copy() for t in self.teachers]
        left = sum(int((~d).sum()) for d in seen)
        out, total = [], 0.0
        for samples in steps:
            for i in samples:
                s, rows = self._rows(int(i))
                fresh = rows[~seen[s][rows]]
                seen[s][fresh] = True
                total += len(fresh) * rate[s]
                left -= len(fresh)
            out.append(total)
            if left == 0:
                break
        return np.asarray(out or [0.0])

    @property
    def preparation_hint(self) -> str:
        if self.teachers is None:
            return "give a larger --minutes"
        per_crop = max(t.seconds_per_row() for t in self.teachers)
        return (
            f"the teacher takes about {per_crop:.2f} s per crop; give a larger --minutes, "
            "or train without it (--teacher none)"
        )

    def batch(self, step: int, samples: NDArray[np.int64]) -> Batch:
        """The timesteps ``samples`` with each view's detections in the step's own order."""
        return collate(
            self.scenes,
            [self.index[i] for i in samples],
            self.teachers,
            self.cfg.teacher_norm,
            shuffle=np.random.default_rng([self.cfg.seed, step, self.dd.rank, SLOT_STREAM]),
        )

    def loss(
        self, model: torch.nn.Module, step: int, samples: NDArray[np.int64]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        batch = self.batch(step, samples)
        imgs = normalize_crops(torch.from_numpy(batch.crops).to(self.device))
        valid = torch.from_numpy(batch.valid).to(self.device)
        teacher = None
        if batch.teacher is not None:
            teacher = torch.from_numpy(batch.teacher).to(self.device)
        ids_keep, ids_restore, mask, own_drop = self.draws(valid, step)
        with autocast(self.device, self.cfg.amp):
            terms = model(imgs, valid, ids_keep, ids_restore, mask, teacher, own_drop)
        return self.total(terms), terms

    def draws(
        self, valid: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The step's masks and reconstruction drops, from its own random generator.

        Parameters
        ----------
        valid : (B, V, N) bool

        Returns
        -------
        ids_keep, ids_restore, mask : (B, ...) one mask per timestep, or
            (B, V, ...) one per view (see :func:`random_masking`)
        own_drop : (B, V, N) bool, or None when ``recon_own_drop`` is 0
        """
        mcfg = self.model_cfg
        b, v = valid.shape[:2]
        gen = step_generator(self.cfg.seed, step, self.dd)
        ids_keep, ids_restore, mask = random_masking(
            b * v if mcfg.mask_per_view else b,
            mcfg.num_patches,
            mcfg.num_visible,
            gen,
            self.device,
        )
        if mcfg.mask_per_view:  # one mask per view: (B, V, ...)
            ids_keep, ids_restore, mask = (t.view(b, v, -1) for t in (ids_keep, ids_restore, mask))
        own_drop = None
        if mcfg.recon_own_drop > 0:  # drawn after the mask, so the paper's stream is unchanged
            draw = torch.rand(valid.shape, generator=gen) < mcfg.recon_own_drop
            own_drop = draw.to(self.device) & other_views_seen(valid)[..., None]
        return ids_keep, ids_restore, mask, own_drop

    def total(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The weighted sum of the loss terms (``w_recon``, ``w_nmi``, ``w_distill``)."""
        w = {"recon": self.cfg.w_recon, "nmi": self.cfg.w_nmi, "distill": self.cfg.w_distill}
        return sum(w[k] * v for k, v in terms.items())  # type: ignore[return-value]
