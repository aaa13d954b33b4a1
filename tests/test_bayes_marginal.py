"""The fast path's closed forms against dense linear algebra (scipy / numpy), no sampling.

Both covariance layouts: one residual variance per participant (compound symmetry, the
SPSS-parity model) and one per cell (the partially nested model: baseline, IMR and CAU
follow-ups), against ``scipy.stats.multivariate_normal`` on the observed cells
(relative tolerance 1e-12: the closed forms are exact up to rounding).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from imr_bayes.bayes.marginal import (
    block_logp_cells_pt,
    block_logp_np,
    block_logp_pt,
    draw_participant_effects,
)


def _blocks(rng):
    # Participants with 1, 2 and 3 observed cells (and one all-missing).
    mask = np.array([[1, 0, 0], [1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 0, 0]], float)
    resid = rng.normal(size=(2, 5, 3))
    rvar = np.array([[0.4, 0.9, 0.4, 0.9, 0.4], [1.3, 0.2, 1.3, 0.2, 1.3]])
    pvar = np.array([0.7, 2.1])
    return resid, mask, rvar, pvar


def test_block_logp_equals_dense_multivariate_normal():
    resid, mask, rvar, pvar = _blocks(np.random.default_rng(3))
    got = block_logp_np(resid, mask, rvar, pvar)
    for s in range(2):
        for i in range(5):
            obs = mask[i] > 0
            n = int(obs.sum())
            if n == 0:
                assert got[s, i] == 0.0
                continue
            cov = rvar[s, i] * np.eye(n) + pvar[s] * np.ones((n, n))
            ref = stats.multivariate_normal(np.zeros(n), cov).logpdf(resid[s, i, obs])
            assert got[s, i] == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_pytensor_expression_matches_numpy():
    resid, mask, rvar, pvar = _blocks(np.random.default_rng(4))
    expr = block_logp_pt(resid[0], mask, rvar[0], pvar[0])
    np.testing.assert_allclose(expr.eval(), block_logp_np(resid, mask, rvar, pvar)[0],
                               rtol=1e-12)


def test_conditional_participant_effect_matches_gaussian_conditioning():
    resid, mask, rvar, pvar = _blocks(np.random.default_rng(5))
    s, i = 1, 3  # three observed cells
    obs = mask[i] > 0
    n = int(obs.sum())
    # Joint of (u, y): Cov(u, y) = pvar * 1', Var(y) = rvar I + pvar J.
    vy = rvar[s, i] * np.eye(n) + pvar[s] * np.ones((n, n))
    cuy = pvar[s] * np.ones(n)
    mean_ref = cuy @ np.linalg.solve(vy, resid[s, i, obs])
    var_ref = pvar[s] - cuy @ np.linalg.solve(vy, cuy)
    rng = np.random.default_rng(0)
    reps = 20000
    draws = draw_participant_effects(np.repeat(resid[s:s + 1], reps, 0), mask,
                                     np.repeat(rvar[s:s + 1], reps, 0),
                                     np.repeat(pvar[s:s + 1], reps), rng)[:, i]
    # Monte Carlo tolerance: 5 standard errors of the mean / of the variance.
    assert draws.mean() == pytest.approx(mean_ref, abs=5 * np.sqrt(var_ref / reps))
    assert draws.var() == pytest.approx(var_ref, abs=5 * var_ref * np.sqrt(2 / reps))


def _cell_blocks(rng):
    # The partially nested layout: cell variances differ within a participant (baseline vs
    # follow-up) and between arms; participants with 1-3 observed cells and one with none.
    resid, mask, _, pvar = _blocks(rng)
    baseline, imr_fu, cau_fu = 0.5, 1.6, 0.3
    arm_fu = np.array([imr_fu, imr_fu, cau_fu, imr_fu, cau_fu])
    cells = np.stack([np.column_stack([np.full(5, baseline), arm_fu, arm_fu]),
                      np.column_stack([np.full(5, 2.2), arm_fu / 3, arm_fu * 2])])
    return resid, mask, cells, pvar


def test_heteroscedastic_block_logp_equals_dense_multivariate_normal():
    resid, mask, cells, pvar = _cell_blocks(np.random.default_rng(6))
    got = block_logp_np(resid, mask, cells, pvar)
    for s in range(2):
        for i in range(5):
            obs = mask[i] > 0
            n = int(obs.sum())
            if n == 0:
                assert got[s, i] == 0.0
                continue
            cov = np.diag(cells[s, i, obs]) + pvar[s] * np.ones((n, n))
            ref = stats.multivariate_normal(np.zeros(n), cov).logpdf(resid[s, i, obs])
            assert got[s, i] == pytest.approx(ref, rel=1e-12, abs=1e-12)


def test_cell_form_reduces_to_the_compound_symmetric_form():
    resid, mask, rvar, pvar = _blocks(np.random.default_rng(7))
    cells = np.repeat(rvar[:, :, None], 3, axis=2)
    np.testing.assert_allclose(block_logp_np(resid, mask, cells, pvar),
                               block_logp_np(resid, mask, rvar, pvar), rtol=1e-13)
    expr = block_logp_cells_pt(resid[1], mask, cells[1], pvar[1])
    np.testing.assert_allclose(expr.eval(), block_logp_pt(resid[1], mask, rvar[1],
                                                          pvar[1]).eval(), rtol=1e-12)


def test_heteroscedastic_pytensor_expression_matches_numpy():
    resid, mask, cells, pvar = _cell_blocks(np.random.default_rng(8))
    for s in range(2):
        expr = block_logp_cells_pt(resid[s], mask, cells[s], pvar[s])
        np.testing.assert_allclose(expr.eval(), block_logp_np(resid, mask, cells, pvar)[s],
                                   rtol=1e-12)


def test_conditional_participant_effect_with_cell_variances():
    resid, mask, cells, pvar = _cell_blocks(np.random.default_rng(9))
    s, i = 0, 3
    obs = mask[i] > 0
    vy = np.diag(cells[s, i, obs]) + pvar[s] * np.ones((3, 3))
    cuy = pvar[s] * np.ones(3)
    mean_ref = cuy @ np.linalg.solve(vy, resid[s, i, obs])
    var_ref = pvar[s] - cuy @ np.linalg.solve(vy, cuy)
    reps = 20000
    draws = draw_participant_effects(np.repeat(resid[s:s + 1], reps, 0), mask,
                                     np.repeat(cells[s:s + 1], reps, 0),
                                     np.repeat(pvar[s:s + 1], reps),
                                     np.random.default_rng(1))[:, i]
    assert draws.mean() == pytest.approx(mean_ref, abs=5 * np.sqrt(var_ref / reps))
    assert draws.var() == pytest.approx(var_ref, abs=5 * var_ref * np.sqrt(2 / reps))
