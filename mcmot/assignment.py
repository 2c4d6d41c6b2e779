"""Minimum-cost assignment: scipy's solver, without the cost of ``import scipy.optimize``.

Every stage that matches (the tracker, association, the metrics) solves the
linear assignment problem with scipy's ``linear_sum_assignment``. Importing it
the public way runs all of ``scipy/optimize/__init__.py`` (linalg, linprog,
fft, special: about 0.3 s, half of what ``mcmot evaluate`` costs to start), for
one compiled function that needs only numpy. So the compiled module that holds
it (``scipy/optimize/_lsap``) is loaded on its own, once, the first time an
assignment is solved; where that module is not found or does not load (another
scipy layout), the public import is used instead. Both are the same function.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

#: The module scipy keeps its assignment solver in.
SOLVER_MODULE = "scipy.optimize._lsap"

_Solver = Callable[..., tuple[np.ndarray, np.ndarray]]
_solver: _Solver | None = None


def _compiled_solver() -> _Solver | None:
    """scipy's compiled ``linear_sum_assignment``, loaded without its package; None if absent."""
    loaded = sys.modules.get(SOLVER_MODULE)
    if loaded is None:
        spec = importlib.util.find_spec("scipy")
        if spec is None or spec.origin is None:
            return None
        folder = Path(spec.origin).parent / "optimize"
        files = [folder / f"_lsap{s}" for s in importlib.machinery.EXTENSION_SUFFIXES]
        found = next((f for f in files if f.is_file()), None)
        if found is None:
            return None
        module_spec = importlib.util.spec_from_file_location(SOLVER_MODULE, found)
        if module_spec is None or module_spec.loader is None:
            return None
        try:
            loaded = importlib.util.module_from_spec(module_spec)
            module_spec.loader.exec_module(loaded)
        except (ImportError, OSError):
            return None
        # scipy.optimize finds it here when it is imported later: one module, not two.
        sys.modules[SOLVER_MODULE] = loaded
    return getattr(loaded, "linear_sum_assignment", None)


def _load() -> _Solver:
    global _solver
    if _solver is None:
        solver = _compiled_solver()
        if solver is None:
            from scipy.optimize import linear_sum_assignment as solver
        _solver = solver
    return _solver


def linear_sum_assignment(
    cost: np.ndarray, maximize: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of a minimum-cost one-to-one assignment, as scipy's.

    Parameters
    ----------
    cost : (n, m) costs; ``inf`` marks a forbidden pair
    maximize : find the maximum-weight assignment instead

    Returns
    -------
    rows, cols : (min(n, m),) indices, rows ascending
    """
    return _load()(cost, maximize=maximize)
