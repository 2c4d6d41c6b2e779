"""A differentiable estimate of the normalised mutual information of two feature sets.

CalibFree's disentanglement loss is ``NMI(f_a, f_s)`` between the
view-agnostic and view-specific halves of the encoder output; the paper does
not say how it is estimated. We use the soft-clustering estimator below.

Why this estimator
------------------
The features are high-dimensional (192 to 384 channels per half) and a batch
holds only a few hundred to a few thousand tokens, so:

- histogram / kernel-density MI per channel pair is quadratic in the
  channels and ignores dependence spread over many channels;
- the Gaussian (canonical-correlation) MI ``-1/2 sum log(1 - rho_i^2)`` is
  infinite whenever there are fewer samples than channels (every canonical
  correlation is then 1), which is the usual case here;
- neural estimators (MINE, InfoNCE) need a critic network trained in an
  inner loop and are biased and high-variance as a loss.

Instead, as in Invariant Information Clustering (Ji et al., 2019), each
feature set is turned into a *soft cluster assignment* and the mutual
information of the two discrete assignments is computed in closed form from
their joint distribution over the batch, which is exact for discrete
variables, bounded, differentiable and cheap (``O(n K)`` for n samples and K
clusters):

1. Choose K anchor samples (evenly spaced rows, so the estimate is
   deterministic). Sample i's assignment in set X is
   ``q_x(k | i) = softmax_k(z_ik / tau)`` where ``z_ik`` is the cosine
   similarity of ``x_i`` to anchor k, standardised over the K anchors (so the
   sharpness does not depend on the feature dimension), and an anchor is
   never a candidate for itself (otherwise every anchor would be "clustered"
   identically in both sets and independent inputs would score high). Y uses
   the SAME anchor rows. The anchors come from the data: no parameters.
2. The joint distribution of the two cluster labels is
   ``P[k, l] = mean_i q_x(k | i) q_y(l | i)``, with marginals ``P_x``, ``P_y``.
3. ``I = sum P log(P / (P_x P_y))``, ``H_x = -sum P_x log P_x`` (likewise H_y), and
   ``NMI = 2 I / (H_x + H_y)``, which lies in [0, 1].

If Y is a function of X that keeps X's neighbourhoods (for example a
rotation), the two assignments coincide and NMI is near 1; if X and Y are
independent, ``P`` factorises and NMI is near 0 (a small positive finite-sample
bias remains). Both cases are tested.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

#: Default number of anchor clusters.
NUM_ANCHORS = 16
#: Default softmax temperature for standardised similarities; smaller is sharper
#: (higher values for dependent sets, but a larger finite-sample bias for independent ones).
TEMPERATURE = 0.3
_EPS = 1e-8


def soft_assign(x: torch.Tensor, anchor_rows: torch.Tensor, tau: float) -> torch.Tensor:
    """Soft cluster assignment by standardised cosine similarity to anchor rows.

    Parameters
    ----------
    x : (n, d) samples
    anchor_rows : (K,) int64 row indices of ``x`` used as anchors, K >= 2
    tau : softmax temperature

    Returns
    -------
    (n, K) rows summing to 1; anchor k gets weight 0 in its own row.
    """
    sim = F.normalize(x, dim=1) @ F.normalize(x[anchor_rows], dim=1).T
    z = (sim - sim.mean(dim=1, keepdim=True)) / (sim.std(dim=1, keepdim=True) + _EPS)
    own = torch.zeros_like(z, dtype=torch.bool)
    own[anchor_rows, torch.arange(len(anchor_rows), device=x.device)] = True
    return torch.softmax((z / tau).masked_fill(own, float("-inf")), dim=1)


def nmi(
    x: torch.Tensor,
    y: torch.Tensor,
    num_anchors: int = NUM_ANCHORS,
    tau: float = TEMPERATURE,
) -> torch.Tensor:
    """Normalised mutual information of paired samples (see the module docstring).

    Parameters
    ----------
    x : (n, dx) first feature set
    y : (n, dy) second feature set; row i pairs with row i of ``x``
    num_anchors : K, the clusters per set (capped at n)
    tau : softmax temperature

    Returns
    -------
    0-d tensor in [0, 1], differentiable in ``x`` and ``y`` (0 when n < 3).
    """
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"nmi needs paired samples, got {x.shape[0]} and {y.shape[0]} rows")
    n = x.shape[0]
    if n < 3:
        return x.sum() * 0.0 + y.sum() * 0.0
    x = x.float()
    y = y.float()
    k = min(num_anchors, n - 1)
    idx = torch.linspace(0, n - 1, k, device=x.device).round().long()
    qx = soft_assign(x, idx, tau)
    qy = soft_assign(y, idx, tau)
    joint = (qx.T @ qy) / n  # (K, K)
    px = joint.sum(dim=1, keepdim=True)
    py = joint.sum(dim=0, keepdim=True)
    mi = (joint * (torch.log(joint + _EPS) - torch.log(px @ py + _EPS))).sum()
    hx = -(px * torch.log(px + _EPS)).sum()
    hy = -(py * torch.log(py + _EPS)).sum()
    return (2.0 * mi / (hx + hy + _EPS)).clamp(min=0.0, max=1.0)
