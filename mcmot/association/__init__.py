"""Cross-camera association: global identities from per-camera tracklets.

See ``docs/association.md``. Modules: :mod:`data` (track rows as arrays),
:mod:`geometry` (ground-plane homographies learned from synchronization),
:mod:`affinity` (per-frame cues aggregated over tracklets), :mod:`clustering`
(constrained global assignment), :mod:`online` (frame-by-frame mode).
"""
