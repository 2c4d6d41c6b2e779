"""The stateless Kalman filter against hand-computed values and against filterpy."""

from __future__ import annotations

import numpy as np
import pytest

from mcmot.tracking.kalman import KalmanFilter, chi2_gate

# A box centred at (100, 200), aspect 0.5, height 80: position noise 80/20 = 4 px,
# velocity noise 80/160 = 0.5 px/frame.
Z = np.array([100.0, 200.0, 0.5, 80.0])


@pytest.fixture()
def kf() -> KalmanFilter:
    return KalmanFilter()


def test_initiate_hand_values(kf: KalmanFilter) -> None:
    mean, cov = kf.initiate(Z)
    np.testing.assert_array_equal(mean, [100, 200, 0.5, 80, 0, 0, 0, 0])
    # std: 2 * 4 = 8 (var 64) for x, y, h; 1e-2 for a; 10 * 0.5 = 5 (var 25) for the
    # velocities; 1e-5 for the aspect velocity
    np.testing.assert_allclose(np.diag(cov), [64, 64, 1e-4, 64, 25, 25, 1e-10, 25])
    assert np.count_nonzero(cov - np.diag(np.diag(cov))) == 0


def test_predict_hand_values(kf: KalmanFilter) -> None:
    mean, cov = kf.initiate(Z)
    mean[4] = 3.0  # moving right at 3 px/frame
    m2, c2 = kf.predict(mean, cov)
    np.testing.assert_allclose(m2, [103, 200, 0.5, 80, 3, 0, 0, 0])
    # P_xx = 64 + 25 (velocity) + 16 (process noise 4^2) = 105
    assert c2[0, 0] == pytest.approx(105.0)
    assert c2[3, 3] == pytest.approx(105.0)
    # P_x,vx = P_vx,vx = 25; P_vx,vx = 25 + 0.5^2
    assert c2[0, 4] == pytest.approx(25.0)
    assert c2[4, 0] == pytest.approx(25.0)
    assert c2[4, 4] == pytest.approx(25.25)
    assert c2[2, 2] == pytest.approx(2e-4 + 1e-10)
    # the input is untouched (the filter holds no state)
    assert mean[0] == 100.0


def test_update_hand_values(kf: KalmanFilter) -> None:
    mean, cov = kf.predict(*kf.initiate(Z))
    meas = Z + np.array([10.0, 0, 0, 0])  # observed 10 px to the right
    m2, c2 = kf.update(mean, cov, meas)
    # S_xx = 105 + 4^2 = 121; gain x: 105/121, vx: 25/121
    assert m2[0] == pytest.approx(100 + 10 * 105 / 121)
    assert m2[4] == pytest.approx(10 * 25 / 121)
    np.testing.assert_allclose(m2[[1, 2, 3, 5, 6, 7]], [200, 0.5, 80, 0, 0, 0], atol=1e-12)
    assert c2[0, 0] == pytest.approx(105 - 105**2 / 121)  # = 105 * 16 / 121
    assert c2[4, 4] == pytest.approx(25.25 - 25**2 / 121)


def test_project_hand_values(kf: KalmanFilter) -> None:
    mean, cov = kf.initiate(Z)
    mu, s = kf.project(mean, cov)
    np.testing.assert_array_equal(mu, Z)
    np.testing.assert_allclose(np.diag(s), [64 + 16, 64 + 16, 1e-4 + 1e-2, 64 + 16])


def test_gating_distance_hand_values(kf: KalmanFilter) -> None:
    mean, cov = kf.initiate(Z)  # projected variance 80 in x, y, h
    meas = np.array([Z, Z + [np.sqrt(80), 0, 0, 0], Z + [20, 0, 0, 0], Z + [0, 20, 0, 20]])
    d = kf.gating_distance(mean, cov, meas)
    np.testing.assert_allclose(d, [0, 1, 5, 10])
    gate = chi2_gate(4)
    assert list(d <= gate) == [True, True, True, False]
    d_pos = kf.gating_distance(mean, cov, meas, only_position=True)
    np.testing.assert_allclose(d_pos, [0, 1, 5, 5])


def test_chi2_gate_values() -> None:
    assert chi2_gate(4) == pytest.approx(9.4877, abs=1e-4)
    assert chi2_gate(2) == pytest.approx(5.9915, abs=1e-4)


def test_batched_paths_match_filterpy(kf: KalmanFilter) -> None:
    rng = np.random.default_rng(3)
    n = 7
    means, covs = [], []
    for _ in range(n):
        z = np.array([rng.uniform(0, 500), rng.uniform(0, 500), rng.uniform(0.3, 0.6), 60])
        m, c = kf.initiate(z)
        m[4:] = rng.normal(0, 2, 4) * [1, 1, 0.001, 0.1]
        for _ in range(3):  # a few predict/update cycles for non-diagonal covariances
            m, c = kf.predict(m, c)
            m, c = kf.update(m, c, m[:4] + rng.normal(0, 2, 4) * [1, 1, 0.001, 1])
        means.append(m)
        covs.append(c)
    means_a, covs_a = np.stack(means), np.stack(covs)
    pm, pc = kf.predict_many(means_a, covs_a)
    for i in range(n):
        m, c = kf.predict(means[i], covs[i])
        np.testing.assert_allclose(pm[i], m, rtol=1e-12)
        np.testing.assert_allclose(pc[i], c, rtol=1e-10, atol=1e-12)
    meas = pm[:, :4] + rng.normal(0, 3, (n, 4)) * [1, 1, 0.01, 1]
    um, uc = kf.update_many(pm, pc, meas)
    for i in range(n):
        m, c = kf.update(pm[i], pc[i], meas[i])
        np.testing.assert_allclose(um[i], m, rtol=1e-10)
        np.testing.assert_allclose(uc[i], c, rtol=1e-8, atol=1e-10)
    dets = meas[::-1]
    dist = kf.gating_distance_many(pm, pc, dets)
    for i in range(n):
        mu, s = kf.project(pm[i], pc[i])
        diff = dets - mu
        want = np.einsum("mi,ij,mj->m", diff, np.linalg.inv(s), diff)
        np.testing.assert_allclose(dist[i], want, rtol=1e-8)


def test_empty_batches(kf: KalmanFilter) -> None:
    m, c = kf.predict_many(np.zeros((0, 8)), np.zeros((0, 8, 8)))
    assert m.shape == (0, 8) and c.shape == (0, 8, 8)
    assert kf.gating_distance_many(np.zeros((0, 8)), np.zeros((0, 8, 8)), Z[None]).shape == (0, 1)


@pytest.mark.parametrize("dof", [2, 4, 6, 10])
@pytest.mark.parametrize("confidence", [0.5, 0.95, 0.999])
def test_chi2_gate_of_an_even_dof_equals_scipys_quantile(dof: int, confidence: float) -> None:
    from scipy.stats import chi2

    assert chi2_gate(dof, confidence) == pytest.approx(chi2.ppf(confidence, dof), rel=1e-12)


def test_chi2_gate_of_an_odd_dof_goes_through_scipy() -> None:
    assert chi2_gate(1) == pytest.approx(3.8415, abs=1e-4)
    assert chi2_gate(3) == pytest.approx(7.8147, abs=1e-4)


def test_chi2_gate_refuses_a_confidence_outside_zero_one() -> None:
    with pytest.raises(ValueError, match="confidence"):
        chi2_gate(4, 1.0)
