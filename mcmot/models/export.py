"""mcmot's own encoders as ONNX networks, for the CPU runtimes (mcmot.runtimes).

``extract-features`` runs a CalibFree or SSAT checkpoint on ONNX Runtime or
OpenVINO by exporting its inference path here, in memory, each time it
starts (under a second for the ``cpu`` preset): no file to keep in step with
the checkpoint. The exported network takes the crops as the encoder's
callers hold them, uint8 BGR, and does the normalisation itself:

- CalibFree: (S, N, H, W, 3) uint8, S groups of N detections (one frame of
  one view, 1 <= N <= the model's ``max_dets``) -> (S, N, E) pooled
  per-patch features, as :meth:`mcmot.models.calibfree.CalibFree.embed`
  with every slot valid;
- SSAT: (B, H, W, 3) uint8 -> (B, dim) embeddings, as the network's forward
  pass (not yet normalised).

S, N and B are dynamic axes of the graph. The export is torch's TorchScript
tracer (``dynamo=False``): it needs only the ``onnx`` package, which the
runtime extras already install, where the newer exporter needs onnxscript
as well. A test checks both networks against the torch path on several
shapes, so an exporter that stops tracing them right fails there.
"""

from __future__ import annotations

import io
import warnings

import torch
import torch.nn as nn

from mcmot.models.calibfree import CalibFree
from mcmot.models.reid import ReidNet
from mcmot.models.tokens import normalize_crops

#: The ONNX operator set of the exports (supported by every runtime version mcmot allows).
OPSET = 17


class _CalibFreeEmbed(nn.Module):
    """uint8 (S, N, H, W, 3) crops -> (S, N, E) pooled features, every slot valid."""

    def __init__(self, model: CalibFree, pooling: str) -> None:
        super().__init__()
        self.model = model
        self.pooling = pooling

    def forward(self, crops: torch.Tensor) -> torch.Tensor:
        valid = torch.ones(crops.shape[:2], dtype=torch.bool, device=crops.device)
        return self.model.embed(normalize_crops(crops), valid, self.pooling)


def _export(net: nn.Module, example: torch.Tensor, axes: dict[int, str]) -> bytes:
    """The serialised ONNX graph of ``net`` on inputs shaped like ``example``."""
    buf = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():  # the tracer's warnings say nothing to a user
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net.eval(),
            (example,),
            buf,
            input_names=["crops"],
            output_names=["features"],
            dynamic_axes={"crops": axes, "features": {i: a for i, a in axes.items() if i < 2}},
            opset_version=OPSET,
            dynamo=False,
        )
    return buf.getvalue()


def calibfree_onnx(model: CalibFree, pooling: str) -> bytes:
    """CalibFree's inference (:meth:`CalibFree.embed`) as ONNX; ``pooling`` "max" or "mean"."""
    cfg = model.cfg
    n = min(2, cfg.max_dets)
    example = torch.zeros(2, n, cfg.img_height, cfg.img_width, 3, dtype=torch.uint8)
    return _export(_CalibFreeEmbed(model, pooling), example, {0: "groups", 1: "detections"})


def reid_onnx(net: ReidNet, size: tuple[int, int]) -> bytes:
    """An SSAT network's embedding (its forward pass, no head) as ONNX; ``size`` (H, W)."""
    example = torch.zeros(2, size[0], size[1], 3, dtype=torch.uint8)
    return _export(net, example, {0: "crops"})
