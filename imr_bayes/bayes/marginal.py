r"""Fast path: the random participant intercept integrated out analytically.

With a random intercept ``u_i ~ N(0, s_u^2)`` the ``n_i`` observed values of participant
``i`` are jointly normal with covariance ``A_i = D_i + s_u^2 J``, ``D_i`` diagonal with the
residual variances ``d_it`` of the participant's observed cells. Its inverse and
determinant are closed-form (Sherman–Morrison and the matrix determinant lemma), with
``w_t = 1 / d_it`` summed over the observed cells:

.. math::

    \log|A_i| = \sum_t \log d_{it} + \log(1 + s_u^2 \sum_t w_t)

    r^T A_i^{-1} r = \sum_t w_t r_t^2 - s_u^2 (\sum_t w_t r_t)^2 / (1 + s_u^2 \sum_t w_t)

where ``r`` are the participant's residuals from the fixed, IMR-group and team effects.
With one residual variance per participant (``d_it = a_i``, the SPSS-parity model) this is
the compound-symmetric form

.. math::

    \log|A_i| = (n_i - 1) \log a_i + \log(a_i + n_i s_u^2)

    r^T A_i^{-1} r = (\sum r^2 - s_u^2 (\sum r)^2 / (a_i + n_i s_u^2)) / a_i

(:func:`block_logp_pt`, the parity model's graph); the partially nested model, whose
residual SD differs between baseline and the two arms' follow-ups, uses the heteroscedastic
form (:func:`block_logp_cells_pt`). The data are a participant x time grid with a 0/1 mask
for observed cells, so one compiled model serves every outcome: only the data are swapped.
The NumPy twins give the pointwise log-likelihood per participant block and the
conditional draw of ``u_i`` for posterior prediction; they take either variance layout.
"""

from __future__ import annotations

import numpy as np

_LOG_2PI = float(np.log(2 * np.pi))


def block_logp_pt(resid, mask, resid_var, participant_var):
    """Return the per-participant marginal log density (PyTensor).

    Parameters
    ----------
    resid : TensorVariable, shape (participant, time)
        Residuals from the fixed and group effects (any value where ``mask`` is 0).
    mask : TensorVariable, shape (participant, time)
        1.0 for an observed cell, 0.0 otherwise.
    resid_var : TensorVariable, shape (participant,)
        Residual variance ``a_i`` of each participant.
    participant_var : TensorVariable, scalar
        Variance of the participant intercept ``s_u^2``.
    """
    import pytensor.tensor as pt

    r = resid * mask
    n = mask.sum(axis=1)
    s1 = r.sum(axis=1)
    s2 = (r * r).sum(axis=1)
    big = resid_var + n * participant_var
    quad = (s2 - participant_var * s1 * s1 / big) / resid_var
    logdet = (n - 1.0) * pt.log(resid_var) + pt.log(big)
    return -0.5 * (n * _LOG_2PI + logdet + quad)


def block_logp_cells_pt(resid, mask, cell_var, participant_var):
    """Return the per-participant marginal log density with cell-specific variances (PyTensor).

    Parameters
    ----------
    resid : TensorVariable, shape (participant, time)
        Residuals from the fixed, group and team effects (any value where ``mask`` is 0).
    mask : TensorVariable, shape (participant, time)
        1.0 for an observed cell, 0.0 otherwise.
    cell_var : TensorVariable, shape (participant, time)
        Residual variance ``d_it`` of every cell (> 0 also where ``mask`` is 0).
    participant_var : TensorVariable, scalar
        Variance of the participant intercept ``s_u^2``.
    """
    import pytensor.tensor as pt

    w = mask / cell_var
    r = resid * mask
    sw = w.sum(axis=1)
    swr = (w * r).sum(axis=1)
    big = 1.0 + participant_var * sw
    quad = (w * r * r).sum(axis=1) - participant_var * swr * swr / big
    logdet = (mask * pt.log(cell_var)).sum(axis=1) + pt.log(big)
    return -0.5 * (mask.sum(axis=1) * _LOG_2PI + logdet + quad)


def _cells(resid_var: np.ndarray) -> np.ndarray:
    """Residual variances as (S, P, T): a (S, P) array holds one variance per participant."""
    resid_var = np.asarray(resid_var, dtype=float)
    return resid_var[:, :, None] if resid_var.ndim == 2 else resid_var


def block_logp_np(resid: np.ndarray, mask: np.ndarray, resid_var: np.ndarray,
                  participant_var: np.ndarray) -> np.ndarray:
    """Per-participant marginal log density for many draws at once (NumPy).

    Parameters
    ----------
    resid : ndarray, shape (S, P, T)
        Residuals per draw ``S``.
    mask : ndarray, shape (P, T)
    resid_var : ndarray, shape (S, P) or (S, P, T)
        Residual variance per participant, or per cell.
    participant_var : ndarray, shape (S,)

    Returns
    -------
    ndarray, shape (S, P)
    """
    d = np.broadcast_to(_cells(resid_var), resid.shape)
    w = mask / d
    r = resid * mask
    b = participant_var[:, None]
    sw = w.sum(axis=2)
    swr = (w * r).sum(axis=2)
    big = 1.0 + b * sw
    quad = (w * r * r).sum(axis=2) - b * swr * swr / big
    logdet = (mask * np.log(d)).sum(axis=2) + np.log(big)
    return -0.5 * (mask.sum(axis=1)[None, :] * _LOG_2PI + logdet + quad)


def draw_participant_effects(resid: np.ndarray, mask: np.ndarray, resid_var: np.ndarray,
                             participant_var: np.ndarray, rng: np.random.Generator
                             ) -> np.ndarray:
    """Draw ``u_i`` from its conditional posterior given the data and the parameters.

    ``u_i | y, theta ~ N(m_i, v_i)`` with ``v_i = 1 / (1/s_u^2 + sum_t w_t)`` and
    ``m_i = v_i * sum_t w_t r_t`` (``w_t = 1 / d_it`` over the observed cells); with
    ``s_u^2 = 0`` the draw is 0. ``resid_var`` is (S, P) or (S, P, T), as in
    :func:`block_logp_np`.

    Returns
    -------
    ndarray, shape (S, P)
    """
    w = mask / np.broadcast_to(_cells(resid_var), resid.shape)
    b = participant_var[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(b > 0, 1.0 / (1.0 / np.where(b > 0, b, 1.0) + w.sum(axis=2)), 0.0)
    mean = var * (w * resid * mask).sum(axis=2)
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)
