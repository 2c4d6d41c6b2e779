"""Cross-input consistency (Bastani, Ma and Xiao): a tracker learned from unlabeled video.

Two matchers score every (track, detection) pair of a frame, each from an
input that hides what the other sees:

- the **visual** matcher sees crops only: a small CNN (six 3x3 convolutions of
  stride 2, ReLU on the first five) embeds each crop, and an MLP scores the
  pair (first detection of the track, candidate detection);
- the **spatial** matcher sees boxes only (centre, size, divided by the frame
  size): an LSTM runs over the track's boxes frame by frame (a frame where the
  track took no detection is an input of zeros with its "seen" flag off), and
  an MLP scores the pair (track state, candidate box).

With ``pair_features`` (the default, a deviation from the paper's plain
concatenation, measured in docs/tracking.md) each MLP also sees how the pair
differs: the visual one ``|x - y|`` and ``x * y`` of the two crop features,
the spatial one the candidate's offset from the track's last box, in units of
that box's width and height.

The paper feeds each matcher ``[crop feature | box]`` with the hidden part
zeroed; a zeroed box adds nothing to a linear layer and a zeroed crop adds a
constant its bias absorbs, so each matcher here takes only its own part.

Each score matrix has a last "exited" column (a learned logit, 0 at first) and
becomes a transition matrix ``M = min(row-softmax, column-softmax)`` (the
exited column takes its row-softmax: any number of tracks may leave).
Training asks the two to agree on the last frame of a sequence, inside the
spatial mask ``C`` (flood fill, mcmot.training.cross_input):
``L = -(1/T) sum_i log(sum_j A_ij B_ij C_ij + 1e-8)``, after the exited column
is reweighted so that "everyone left" cannot score (:func:`reweight_exit`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from mcmot.models.cross_input_config import CrossInputConfig
from mcmot.models.tokens import normalize_crops

#: Added inside the loss's logarithm.
EPS = 1e-8
#: Width of the spatial matcher's input per box: centre x, y, width, height, seen.
BOX_IN = 5
#: The spatial state of T tracks: the LSTM's (T, H) hidden and cell, and the (T, 4)
#: box each track took last.
State = tuple[torch.Tensor, torch.Tensor, torch.Tensor]


@dataclass
class Sequence:
    """One training sequence: the sampled frames ``I_0 .. I_n`` of one camera.

    Attributes
    ----------
    crops : per sampled frame, (D_k, S, S, 3) uint8 crops
    boxes : per sampled frame, (D_k, 4) boxes (cx, cy, w, h) over the frame size
    distract : (D_d, S, S, 3) crops from distant frames; artificial detection ``j``
        has the box of ``I_n``'s detection ``j``
    mask : (D_0, D_n) bool, the spatial mask C without its exited column
    """

    crops: list[torch.Tensor]
    boxes: list[torch.Tensor]
    distract: torch.Tensor
    mask: torch.Tensor


def min_softmax(logits: torch.Tensor) -> torch.Tensor:
    """(T, D+1) scores, last column "exited" -> ``min(row-softmax, column-softmax)``.

    The exited column keeps its row-softmax value (any number of tracks may exit).
    """
    rows = logits.softmax(dim=1)
    if logits.shape[0] == 0 or logits.shape[1] == 1:
        return rows
    cols = logits[:, :-1].softmax(dim=0)
    return torch.cat([torch.minimum(rows[:, :-1], cols), rows[:, -1:]], dim=1)


def reweight_exit(m: torch.Tensor) -> torch.Tensor:
    """Rescale the exited column of a (T, D+1) transition matrix.

    It is multiplied by ``min(1 / (sum_i m_i,exit + 0.01), T)`` and capped at
    each row's mass left by the other columns: one track leaving keeps its
    mass; all of them leaving share about one row's worth.
    """
    if m.shape[0] == 0:
        return m
    exit_ = m[:, -1]
    weight = torch.clamp(1.0 / (exit_.sum() + 0.01), max=float(m.shape[0]))
    room = (1.0 - m[:, :-1].sum(dim=1)).clamp(min=0.0)
    return torch.cat([m[:, :-1], torch.minimum(exit_ * weight, room)[:, None]], dim=1)


def consistency_loss(a: torch.Tensor, b: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``-(1/T) sum_i log(sum_j A_ij B_ij C_ij + eps)`` over (T, D+1) matrices.

    ``mask`` is C without its exited column (always allowed).
    """
    c = torch.cat([mask.to(a.dtype), torch.ones_like(a[:, :1])], dim=1)
    return -torch.log((a * b * c).sum(dim=1) + EPS).mean()


def mutual_best(m: torch.Tensor) -> torch.Tensor:
    """(T,) the detection each track takes from a (T, D+1) matrix, -1 for none.

    A track takes detection ``j`` when ``j`` is its row's best (not "exited")
    and the track is ``j``'s column's best.
    """
    take = torch.full((m.shape[0],), -1, dtype=torch.long)
    if m.shape[0] == 0 or m.shape[1] == 1:
        return take
    best = m.argmax(dim=1)
    col_best = m[:, :-1].argmax(dim=0)
    for i, j in enumerate(best.tolist()):
        if j < m.shape[1] - 1 and int(col_best[j]) == i:
            take[i] = j
    return take


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:], strict=True)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class CrossInputNet(nn.Module):
    """The visual and the spatial matcher (see the module docstring)."""

    def __init__(self, cfg: CrossInputConfig) -> None:
        super().__init__()
        c = cfg.channels
        convs: list[nn.Module] = []
        for i in range(6):
            convs.append(nn.Conv2d(3 if i == 0 else c, c, 3, stride=2, padding=1))
            if i < 5:
                convs.append(nn.ReLU())
        self.cnn = nn.Sequential(*convs, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.pair_features = cfg.pair_features
        self.visual = _mlp([(4 if cfg.pair_features else 2) * c, 256, 1])
        self.lstm = nn.LSTMCell(BOX_IN, cfg.hidden)
        self.spatial = _mlp([cfg.hidden + (8 if cfg.pair_features else 4), 256, 128, 128, 1])
        self.visual_exit = nn.Parameter(torch.zeros(()))
        self.spatial_exit = nn.Parameter(torch.zeros(()))

    # ------------------------------------------------------------ the two inputs
    def embed(self, crops: torch.Tensor) -> torch.Tensor:
        """(N, S, S, 3) uint8 BGR crops -> (N, C) crop features."""
        if crops.shape[0] == 0:
            return crops.new_zeros((0, self.cnn[-3].out_channels), dtype=torch.float32)
        return self.cnn(normalize_crops(crops))

    def visual_logits(self, first: torch.Tensor, cand: torch.Tensor) -> torch.Tensor:
        """(T, C) track and (D, C) candidate crop features -> (T, D) scores."""
        t, d = first.shape[0], cand.shape[0]
        x, y = first[:, None].expand(t, d, -1), cand[None].expand(t, d, -1)
        parts = [x, y, (x - y).abs(), x * y] if self.pair_features else [x, y]
        return self.visual(torch.cat(parts, dim=-1)).squeeze(-1)

    def spatial_start(self, boxes: torch.Tensor) -> State:
        """(T, 4) first boxes -> the tracks' state after them."""
        zero = boxes.new_zeros((boxes.shape[0], self.lstm.hidden_size))
        return self.spatial_step((zero, zero, boxes), boxes, torch.ones_like(boxes[:, 0]))

    def spatial_step(self, state: State, boxes: torch.Tensor, seen: torch.Tensor) -> State:
        """One frame: (T, 4) boxes taken (rows with ``seen`` 0 are ignored) -> new state."""
        x = torch.cat([boxes * seen[:, None], seen[:, None]], dim=1)
        h, c = self.lstm(x, (state[0], state[1]))
        last = torch.where(seen[:, None] > 0, boxes, state[2])
        return h, c, last

    def spatial_logits(self, state: State, cand: torch.Tensor) -> torch.Tensor:
        """Tracks' state and (D, 4) candidate boxes -> (T, D) scores."""
        hidden, last = state[0], state[2]
        t, d = hidden.shape[0], cand.shape[0]
        parts = [hidden[:, None].expand(t, d, -1), cand[None].expand(t, d, -1)]
        if self.pair_features:
            scale = last[:, None, 2:].clamp(min=1e-3).repeat(1, 1, 2)
            parts.append((cand[None] - last[:, None]) / scale)
        return self.spatial(torch.cat(parts, dim=-1)).squeeze(-1)

    def with_exit(self, logits: torch.Tensor, visual: bool) -> torch.Tensor:
        """(T, D) scores -> (T, D+1) with the matcher's exited logit appended."""
        exit_ = self.visual_exit if visual else self.spatial_exit
        return torch.cat([logits, exit_.expand(logits.shape[0], 1)], dim=1)

    # ------------------------------------------------------------ training
    def forward(self, seqs: list[Sequence]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The mean consistency loss of ``seqs`` and the named terms to log (means)."""
        losses, terms = [], []
        for seq in seqs:
            loss, named = self.sequence_loss(seq)
            losses.append(loss)
            terms.append(named)
        out = {k: torch.stack([t[k] for t in terms]).mean() for k in terms[0]}
        return torch.stack(losses).mean(), out

    def last_frame(self, seq: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
        """Run the tracks from ``I_0`` through the intermediate frames (each track takes
        its mutual best detection, without gradient) and score ``I_n``.

        Returns
        -------
        A and B, the visual and spatial (D_0, D_n + D_d + 1) transition matrices over
        ``I_n``'s detections, the artificial ones and "exited".
        """
        sizes = [len(c) for c in seq.crops] + [len(seq.distract)]
        feats = list(self.embed(torch.cat([*seq.crops, seq.distract])).split(sizes))
        first, distract = feats[0], feats[-1]
        state = self.spatial_start(seq.boxes[0])
        for k in range(1, len(seq.crops) - 1):
            a = min_softmax(self.with_exit(self.visual_logits(first, feats[k]), True))
            b = min_softmax(self.with_exit(self.spatial_logits(state, seq.boxes[k]), False))
            with torch.no_grad():
                take = mutual_best(torch.minimum(a, b))
            seen = (take >= 0).to(seq.boxes[0].dtype)
            taken = seq.boxes[k][take.clamp(min=0)] if len(seq.boxes[k]) else seq.boxes[0] * 0
            state = self.spatial_step(state, taken, seen)
        last, d_d = seq.boxes[-1], len(distract)
        vis = self.visual_logits(first, torch.cat([feats[-2], distract]))
        spa = self.spatial_logits(state, torch.cat([last, last[:d_d]]))
        return min_softmax(self.with_exit(vis, True)), min_softmax(self.with_exit(spa, False))

    def sequence_loss(self, seq: Sequence) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """One sequence's loss (the artificial detections cut out after the softmax) and
        its terms to log."""
        a_all, b_all = self.last_frame(seq)
        d_n, d_d = len(seq.boxes[-1]), len(seq.distract)
        keep = torch.cat([torch.arange(d_n), torch.tensor([d_n + d_d])]).to(a_all.device)
        a, b = reweight_exit(a_all[:, keep]), reweight_exit(b_all[:, keep])
        loss = consistency_loss(a, b, seq.mask)
        both = torch.minimum(a_all, b_all).detach()
        terms = {
            "row_max": both[:, keep].max(dim=1).values.mean(),
            "exited": both[:, -1].mean(),
            "artificial": both[:, d_n : d_n + d_d].sum(dim=1).mean(),
            "exit_only": (~seq.mask.any(dim=1)).float().mean(),
        }
        return loss, terms
