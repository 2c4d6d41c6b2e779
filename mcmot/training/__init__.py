"""Training: one trainer (schedule, distributed setup, the loop) for every objective.

An objective (:class:`mcmot.training.objective.Objective`) says what a model
is and what one step's loss is; the trainer plans the steps
(:mod:`~mcmot.training.schedule`), runs them on one or many processes
(:mod:`~mcmot.training.distributed`), and writes checkpoints and the step log
(:mod:`~mcmot.training.loop`). How one session runs (resume, overwrite,
callbacks, where it stops) is a :class:`~mcmot.training.session.Session`.
CalibFree's objective is :mod:`~mcmot.training.calibfree`.
"""
