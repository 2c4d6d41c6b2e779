"""DistributedDataParallel: two gloo processes on CPU end with identical weights."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from pretrain_fixtures import make_tiny_scene

ROOT = Path(__file__).resolve().parents[1]


def _two_processes(tmp_path: Path, worker: str) -> subprocess.CompletedProcess:
    """``worker`` (a script) run by torchrun on two CPU processes; it must succeed."""
    script = tmp_path / "worker.py"
    script.write_text(worker)
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node",
           "2", str(script)]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc


WORKER = textwrap.dedent(
    """
    import os, sys, torch
    sys.path.insert(0, {root!r})
    torch.set_num_threads(1)
    from mcmot.models.pretrain_config import PretrainConfig
    from mcmot.stages.pretrain import run_pretrain
    cfg = PretrainConfig(
        img_height=32, img_width=16, patch_size=8, embed_dim=32, depth=1, num_heads=2,
        dec_dim=16, dec_depth=1, dec_heads=2, max_dets=4, teacher="none", batch_size=1,
        epochs=1, device="cpu",
    )
    res = run_pretrain([{scene!r}], {run!r}, cfg)
    rank = int(os.environ["RANK"])
    torch.save(res.model.state_dict(), os.path.join({run!r}, f"rank{{rank}}.pt"))
    print("rank", rank, "steps", res.step, "of", res.total_steps)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_gloo_processes_end_identical(tmp_path):
    scene = make_tiny_scene(tmp_path / "scene", frames=4, persons=2)
    run = tmp_path / "run"
    proc = _two_processes(tmp_path, WORKER.format(root=str(ROOT), scene=str(scene), run=str(run)))
    assert "steps 2 of 2" in proc.stdout  # 4 timesteps, 2 ranks, 1 per step
    a = torch.load(run / "rank0.pt", weights_only=True)
    b = torch.load(run / "rank1.pt", weights_only=True)
    assert all(torch.equal(a[k], b[k]) for k in a)
    start = torch.load(run / "checkpoint.pt", weights_only=True)
    assert start["step"] == 2 and all(torch.equal(start["model"][k], a[k]) for k in a)


CLIPS_WORKER = textwrap.dedent(
    """
    import os, sys, torch
    sys.path.insert(0, {root!r})
    torch.set_num_threads(1)
    from mcmot.models.clips_config import ClipsConfig
    from mcmot.stages.pretrain_clips import run_pretrain_clips
    cfg = ClipsConfig(clip_seconds=1.0, frames_per_clip=4, input_height=32, input_width=32,
                      batch_size=4, epochs=1, device="cpu")
    res = run_pretrain_clips([{video!r}], {run!r}, cfg)
    rank = int(os.environ["RANK"])
    torch.save(res.model.state_dict(), os.path.join({run!r}, f"rank{{rank}}.pt"))
    print("rank", rank, "steps", res.step, "of", res.total_steps)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_gloo_processes_training_on_clips_end_identical(tmp_path):
    import cv2
    import numpy as np

    video = tmp_path / "v.mp4"
    out = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 10.0, (64, 48))
    rng = np.random.default_rng(0)
    for t in range(20):  # one shot, two 1-s clips of 10 frames, 4 images each
        img = np.clip(rng.normal(120, 20, (48, 64, 3)), 0, 255).astype(np.uint8)
        cv2.rectangle(img, (2 + 2 * t, 8), (12 + 2 * t, 40), (255, 255, 255), -1)
        out.write(img)
    out.release()
    run = tmp_path / "run"
    proc = _two_processes(
        tmp_path, CLIPS_WORKER.format(root=str(ROOT), video=str(video), run=str(run))
    )
    assert "steps 1 of 1" in proc.stdout  # 8 images, 2 ranks, 4 per step
    a = torch.load(run / "rank0.pt", weights_only=True)
    b = torch.load(run / "rank1.pt", weights_only=True)
    # batch-norm running statistics stay per process on CPU (no SyncBatchNorm there)
    weights = [k for k in a if not k.endswith(("running_mean", "running_var", "_tracked"))]
    assert len(weights) > 60 and all(torch.equal(a[k], b[k]) for k in weights)


CROSS_INPUT_WORKER = textwrap.dedent(
    """
    import os, sys, torch
    sys.path.insert(0, {root!r})
    torch.set_num_threads(1)
    from mcmot.models.cross_input_config import CrossInputConfig
    from mcmot.stages.pretrain_cross_input import run_pretrain_cross_input
    cfg = CrossInputConfig(channels=8, hidden=8, n_min=2, n_max=3, batch_size=2, epochs=1,
                           device="cpu")
    res = run_pretrain_cross_input([{scene!r}], {run!r}, cfg)
    rank = int(os.environ["RANK"])
    torch.save(res.model.state_dict(), os.path.join({run!r}, f"rank{{rank}}.pt"))
    print("rank", rank, "steps", res.step, "of", res.total_steps, "starts", res.starts)
    """
)


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="no torch.distributed")
def test_two_gloo_processes_training_the_learned_tracker_end_identical(tmp_path):
    scene = make_tiny_scene(tmp_path / "scene", cams=1, frames=12, persons=3)
    run = tmp_path / "run"
    proc = _two_processes(
        tmp_path, CROSS_INPUT_WORKER.format(root=str(ROOT), scene=str(scene), run=str(run))
    )
    assert "steps 3 of 3 starts 10" in proc.stdout  # frames 1-10 start; 2 ranks x 2 per step
    a = torch.load(run / "rank0.pt", weights_only=True)
    b = torch.load(run / "rank1.pt", weights_only=True)
    assert len(a) > 10 and all(torch.equal(a[k], b[k]) for k in a)
