"""mcmot.assignment gives scipy's assignment without importing scipy.optimize."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment as scipy_lsa

from mcmot import assignment


@pytest.mark.parametrize("shape", [(0, 0), (0, 3), (1, 1), (5, 5), (4, 7), (9, 3)])
@pytest.mark.parametrize("maximize", [False, True])
def test_the_assignment_equals_scipys(shape: tuple[int, int], maximize: bool) -> None:
    cost = np.random.default_rng(sum(shape)).normal(size=shape)
    got = assignment.linear_sum_assignment(cost, maximize=maximize)
    want = scipy_lsa(cost, maximize=maximize)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def test_forbidden_pairs_stay_unassigned() -> None:
    cost = np.array([[1.0, np.inf], [np.inf, 2.0]])
    rows, cols = assignment.linear_sum_assignment(cost)
    assert rows.tolist() == [0, 1] and cols.tolist() == [0, 1]


def test_solving_does_not_import_scipy_optimize() -> None:
    code = (
        "import sys, numpy as np; from mcmot.assignment import linear_sum_assignment as f; "
        "r, c = f(np.array([[3.0, 1.0], [1.0, 3.0]])); "
        "print(c.tolist(), 'scipy.optimize' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[1,", "0]", "False"]


def test_without_the_compiled_module_it_falls_back_to_scipy_optimize(monkeypatch) -> None:
    monkeypatch.setattr(assignment, "_solver", None)
    monkeypatch.setattr(assignment, "_compiled_solver", lambda: None)
    rows, cols = assignment.linear_sum_assignment(np.array([[3.0, 1.0], [1.0, 3.0]]))
    assert cols.tolist() == [1, 0]
    assert assignment._solver is scipy_lsa
