"""Online association: global identities frame by frame, with bounded memory.

Frames are processed in order. In each frame, every camera pair's detections
are matched (Hungarian on the fused per-frame scores, as offline). A
tracklet seen for the first time is *pending*: for ``online_window`` frames
it collects votes, one per frame and partner tracklet it was matched to. Then
its identity is decided:

- the identity of its partners with most votes, when those votes are more
  than ``link_threshold`` of its frames (with ``evidence_prior``) and no
  row of its camera was given that identity since it began (a person is at
  most once per camera);
- else, with appearance, the lost identity of the gallery closest in mean
  feature, when the appearance model gives at least ``REENTRY_POSTERIOR``;
- else a new identity.

With ``split_switches``, a decided tracklet whose matched partners never hold
its identity for ``split_min_seconds`` of matches takes the identity they
held most often from the next frame on (:func:`_follow_partners`): a
tracker's identity switch, a decision that later frames contradict, or
tracklets of several cameras decided apart. Rows already handed out keep
their identity.

Memory: votes of pending tracklets (at most ``online_window`` frames each),
the identity of live tracklets and the last frame each identity was given in
each camera (kept ``online_window`` frames), and a gallery of at most
``online_gallery`` lost identities (mean feature each). Output latency:
``online_window`` frames.
Geometry is read from ``--geometry`` or fitted on the first ``online_warmup``
frames; pairs of moving cameras are then refitted window by window
(:mod:`~mcmot.association.follow`).
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from mcmot.association.affinity import Cues, frame_matches, pair_scores
from mcmot.association.config import AssociateConfig, FrameTimes
from mcmot.association.data import CameraObs
from mcmot.association.follow import GeometryFollower
from mcmot.association.offline import Assignment

#: Appearance posterior a lost identity needs to be given back (strong evidence).
REENTRY_POSTERIOR = 0.99

Key = tuple[int, int]  # (camera index, local id)


@dataclass
class _Pending:
    first: int = 0
    frames: int = 0
    votes: Counter = field(default_factory=Counter)
    feat: NDArray[np.float64] | None = None


@dataclass
class _State:
    """Everything the online associator remembers between frames."""

    gid: dict[Key, int] = field(default_factory=dict)
    last_seen: dict[Key, int] = field(default_factory=dict)
    pending: dict[Key, _Pending] = field(default_factory=dict)
    feats: dict[int, tuple[NDArray[np.float64], int]] = field(default_factory=dict)
    gallery: OrderedDict = field(default_factory=OrderedDict)
    next_gid: int = 1
    #: per decided tracklet whose partners do not hold its identity: the identities
    #: they held (each counted once per frame), and for how many frames
    contrary: dict[Key, tuple[Counter, int]] = field(default_factory=dict)
    #: (camera, identity) -> (the last frame a row of that camera was given that identity,
    #: the tracklet that row belongs to)
    owner: dict[Key, tuple[int, Key]] = field(default_factory=dict)


def _frame_rows(o: CameraObs, f: int) -> NDArray[np.int64]:
    lo, hi = np.searchsorted(o.frames, [f, f + 1])
    return np.arange(lo, hi)


def _matches_at(obs: list[CameraObs], rows: list[NDArray], cues: Cues) -> list[tuple[Key, Key]]:
    """Matched (key a, key b) pairs of one frame over all camera pairs."""
    out = []
    for i in range(len(obs)):
        for j in range(i + 1, len(obs)):
            ra, rb = rows[i], rows[j]
            if not len(ra) or not len(rb):
                continue
            ia = np.repeat(ra, len(rb))
            ib = np.tile(rb, len(ra))
            score, weight = pair_scores(cues, obs[i], obs[j], ia, ib)
            hit = frame_matches(
                np.zeros(len(ia), np.int64), ia, ib, np.where(weight > 0, score, 0.0)
            )
            for k in np.flatnonzero(hit):
                out.append(((i, int(obs[i].tids[ia[k]])), (j, int(obs[j].tids[ib[k]]))))
    return out


def _feature(o: CameraObs, r: int) -> NDArray[np.float64] | None:
    if o.feats is None or not np.any(o.feats[r]):
        return None
    return o.feats[r].astype(np.float64)


def _decide(
    key: Key, p: _Pending, f: int, st: _State, cues: Cues, cfg: AssociateConfig, times: FrameTimes
) -> int:
    """The identity of a pending tracklet whose window is over."""
    by_gid: Counter = Counter()
    for partner, n in p.votes.items():
        if partner in st.gid:
            by_gid[st.gid[partner]] += n
    # identities given to rows of this camera since this tracklet began
    busy = {g for (c, g), (last, _) in st.owner.items() if c == key[0] and last >= p.first}
    for g, n in by_gid.most_common():
        if g not in busy and n / (p.frames + times.evidence_prior) > cfg.link_threshold:
            return g
    if cues.appearance is not None and p.feat is not None and st.gallery:
        gids = [g for g in st.gallery if g not in busy]
        if gids:
            feats = np.stack([st.gallery[g] for g in gids])
            q = p.feat / max(np.linalg.norm(p.feat), 1e-12)
            sims = feats @ q
            k = int(np.argmax(sims))
            if cues.appearance.posterior(np.array([sims[k]]))[0] >= REENTRY_POSTERIOR:
                st.gallery.pop(gids[k])
                return gids[k]
    g = st.next_gid
    st.next_gid += 1
    return g


def _follow_partners(partners: dict[Key, set[int]], st: _State, times: FrameTimes) -> None:
    """A decided tracklet whose cross-view partners have not held its identity for
    ``split_min_votes`` frames of matches takes the identity they held most often,
    from the next frame on (a tracker's identity switch, an early decision the later
    frames contradict, or tracklets of several cameras decided apart before geometry
    linked them); rows already written keep theirs. The identity must be free in
    the tracklet's camera, or held by a tracklet that wants this one's in exchange
    (two tracks that swapped people)."""
    for k, held in partners.items():
        own = st.gid.get(k)
        if own is None or own in held:
            st.contrary.pop(k, None)
            continue
        seen, n = st.contrary.get(k, (Counter(), 0))
        seen.update(held)
        st.contrary[k] = (seen, n + 1)
    need = times.split_min_votes
    for k in sorted(st.contrary):
        if k not in st.contrary or st.contrary[k][1] < need or k not in st.gid:
            continue
        own, g = st.gid[k], _wanted(st, k)
        # a tracklet of this camera that holds g and is not retired may still show up
        holders = [kk for kk, v in st.gid.items() if v == g and kk[0] == k[0] and kk != k]
        if not holders:
            st.gid[k] = g
            st.owner[(k[0], g)] = (st.last_seen[k], k)
            st.contrary.pop(k)
            # whoever wanted k's old identity saw it on k: that evidence is void now
            # (two tracklets that each want the other's identity merge, not swap)
            for kk in [kk for kk in st.contrary if _wanted(st, kk) == own]:
                del st.contrary[kk]
            continue
        kk = holders[0]
        swapped = kk in st.contrary and st.contrary[kk][1] >= need and _wanted(st, kk) == own
        if len(holders) == 1 and swapped:
            st.gid[k], st.gid[kk] = g, own  # the two tracks swapped people
            st.owner[(k[0], g)] = (st.last_seen[k], k)
            st.owner[(k[0], own)] = (st.last_seen[kk], kk)
            st.contrary.pop(kk)
            st.contrary.pop(k)


def _wanted(st: _State, k: Key) -> int:
    """The identity k's partners held most often while contradicting it (ties: the
    oldest identity)."""
    seen = st.contrary[k][0]
    return min(seen, key=lambda g: (-seen[g], g))


def _retire(f: int, st: _State, cfg: AssociateConfig, times: FrameTimes) -> None:
    """Move identities with no live tracklet to the gallery; forget old tracklets."""
    horizon = f - times.online_window
    stale = [k for k, last in st.last_seen.items() if last < horizon and k in st.gid]
    for cg in [cg for cg, (last, _) in st.owner.items() if last < horizon - 1]:
        del st.owner[cg]  # every pending tracklet began after it
    for k in stale:
        g = st.gid.pop(k)
        st.last_seen.pop(k)
        st.contrary.pop(k, None)
        if any(v == g for v in st.gid.values()):
            continue
        if g in st.feats:
            s, n = st.feats.pop(g)
            st.gallery[g] = s / max(np.linalg.norm(s), 1e-12)
            st.gallery.move_to_end(g)
            while len(st.gallery) > cfg.online_gallery:
                st.gallery.popitem(last=False)


class OnlineAssociator:
    """The online associator, fed one frame at a time (see the module docstring).

    :meth:`step` takes one frame's observations, one :class:`CameraObs` per
    camera holding that frame's rows only, and a reference per row (anything
    the caller uses to find the row again); it returns the ``(reference,
    identity)`` pairs fixed by this frame: rows of tracklets whose identity is
    known at once, and the held rows of tracklets decided now. :meth:`finish`
    decides every tracklet still pending. Frames must come in increasing order;
    frames without any row are left out (they change nothing).
    """

    def __init__(self, cues: Cues, cfg: AssociateConfig, times: FrameTimes) -> None:
        self.cues, self.cfg, self.times = cues, cfg, times
        self.follower: GeometryFollower | None = None
        self.state = _State()
        self.held: dict[Key, list[Any]] = {}  # rows waiting for their identity
        self.tracklets = 0
        self.last_frame = 0

    def step(self, f: int, obs: list[CameraObs], refs: list[list[Any]]) -> list[tuple[Any, int]]:
        """Observe frame ``f`` (``obs[c]`` its rows in camera ``c``, ``refs[c]`` theirs)."""
        st, out = self.state, []
        if self.follower is None and self.cues.geometry is not None:
            warm_end = f + self.times.online_warmup - 1
            self.follower = GeometryFollower(
                self.cues.geometry, self.cfg.geometry, self.times.fps, warm_end
            )
        rows = [np.arange(len(o)) for o in obs]
        matches = _matches_at(obs, rows, self.cues)
        for ci, (o, rs) in enumerate(zip(obs, rows, strict=True)):
            for r in rs:
                key = (ci, int(o.tids[r]))
                fresh = key not in st.last_seen
                st.last_seen[key] = f
                if key in st.gid and st.owner.get((ci, st.gid[key]), (f, key))[1] == key:
                    out.append((refs[ci][r], st.gid[key]))
                    st.owner[(ci, st.gid[key])] = (f, key)
                    _add_feature(st, st.gid[key], _feature(o, r))
                    continue
                if key in st.gid:  # back after a gap, its identity given to another since
                    del st.gid[key]
                    st.contrary.pop(key, None)
                if key not in st.pending:
                    st.pending[key] = _Pending(first=f)
                    self.tracklets += fresh
                p = st.pending[key]
                p.frames += 1
                feat = _feature(o, r)
                if feat is not None:
                    p.feat = feat if p.feat is None else p.feat + feat
                self.held.setdefault(key, []).append(refs[ci][r])
        partners: dict[Key, set[int]] = {}
        for ka, kb in matches:
            for k, other in ((ka, kb), (kb, ka)):
                if k in st.pending:
                    st.pending[k].votes[other] += 1
                elif other in st.gid:
                    partners.setdefault(k, set()).add(st.gid[other])
        if self.cfg.split_switches:
            _follow_partners(partners, st, self.times)
        out += self._settle(f, final=False)
        _retire(f, st, self.cfg, self.times)
        if self.follower is not None and self.follower.observe(f, obs):
            self.cues = replace(self.cues, geometry=self.follower.geometry)
        self.last_frame = f
        return out

    def finish(self) -> list[tuple[Any, int]]:
        """Decide every pending tracklet (the end of the stream)."""
        return self._settle(self.last_frame + 1, final=True)

    @property
    def identities(self) -> int:
        return self.state.next_gid - 1

    def _settle(self, f: int, *, final: bool) -> list[tuple[Any, int]]:
        """Fix the identity of pending tracklets whose window is over (or that ended)."""
        st, out = self.state, []
        ready = [
            k
            for k, p in st.pending.items()
            if final or p.frames >= self.times.online_window or st.last_seen[k] < f
        ]
        ready.sort(key=lambda k: -st.pending[k].frames)
        for k in ready:
            p = st.pending.pop(k)
            g = _decide(k, p, f, st, self.cues, self.cfg, self.times)
            st.gid[k] = g
            st.owner[(k[0], g)] = (st.last_seen[k], k)  # no row of the camera had g since
            if p.feat is not None:
                s, n = st.feats.get(g, (np.zeros_like(p.feat), 0))
                st.feats[g] = (s + p.feat, n + p.frames)
            out += [(ref, g) for ref in self.held.pop(k, [])]
        return out


def associate_online(
    obs: list[CameraObs], cues: Cues, cfg: AssociateConfig, times: FrameTimes
) -> Assignment:
    """Assign global identities frame by frame (see the module docstring);
    ``times`` holds ``cfg``'s durations in frames."""
    ids = [np.zeros(len(o), np.int64) for o in obs]
    frames = np.unique(np.concatenate([o.frames for o in obs])) if obs else []
    assoc = OnlineAssociator(cues, cfg, times)
    fixed: list[tuple[Any, int]] = []
    for f in frames:
        f = int(f)
        rows = [_frame_rows(o, f) for o in obs]
        window = [o.window(f, f) for o in obs]
        fixed += assoc.step(f, window, [[(ci, int(r)) for r in rs] for ci, rs in enumerate(rows)])
    fixed += assoc.finish()
    for (ci, r), g in fixed:
        ids[ci][r] = g
    return Assignment(ids, assoc.tracklets, assoc.identities)


def _add_feature(st: _State, g: int, feat: NDArray[np.float64] | None) -> None:
    if feat is None:
        return
    s, n = st.feats.get(g, (np.zeros_like(feat), 0))
    st.feats[g] = (s + feat, n + 1)
