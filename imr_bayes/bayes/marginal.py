r"""Fast path: the random participant intercept integrated out analytically.

With a random intercept ``u_i ~ N(0, s_u^2)`` and residual variance ``a_i`` (one per arm at
most, so constant within a participant), the ``n_i`` observed values of participant ``i``
are jointly normal with a compound-symmetric covariance ``A_i = a_i I + s_u^2 J``. Its
inverse and determinant are closed-form (Sherman–Morrison):

.. math::

    \log|A_i| = (n_i - 1) \log a_i + \log(a_i + n_i s_u^2)

    r^T A_i^{-1} r = (\sum r^2 - s_u^2 (\sum r)^2 / (a_i + n_i s_u^2)) / a_i

where ``r`` are the participant's residuals from the fixed and IMR-group effects. The data are
a participant x time grid with a 0/1 mask for observed cells, so one compiled model serves
every outcome: only the data are swapped. The functions here are the PyTensor expression
(used by the model) and NumPy twins (pointwise log-likelihood per participant block, and the
conditional draw of ``u_i`` for posterior prediction).
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


def block_logp_np(resid: np.ndarray, mask: np.ndarray, resid_var: np.ndarray,
                  participant_var: np.ndarray) -> np.ndarray:
    """Per-participant marginal log density for many draws at once (NumPy).

    Parameters
    ----------
    resid : ndarray, shape (S, P, T)
        Residuals per draw ``S``.
    mask : ndarray, shape (P, T)
    resid_var : ndarray, shape (S, P)
    participant_var : ndarray, shape (S,)

    Returns
    -------
    ndarray, shape (S, P)
    """
    r = resid * mask
    n = mask.sum(axis=1)[None, :]
    s1 = r.sum(axis=2)
    s2 = (r * r).sum(axis=2)
    b = participant_var[:, None]
    big = resid_var + n * b
    quad = (s2 - b * s1 * s1 / big) / resid_var
    logdet = (n - 1.0) * np.log(resid_var) + np.log(big)
    return -0.5 * (n * _LOG_2PI + logdet + quad)


def draw_participant_effects(resid: np.ndarray, mask: np.ndarray, resid_var: np.ndarray,
                             participant_var: np.ndarray, rng: np.random.Generator
                             ) -> np.ndarray:
    """Draw ``u_i`` from its conditional posterior given the data and the parameters.

    ``u_i | y, theta ~ N(m_i, v_i)`` with ``v_i = 1 / (1/s_u^2 + n_i/a_i)`` and
    ``m_i = v_i * sum(r_i) / a_i``; with ``s_u^2 = 0`` the draw is 0.

    Returns
    -------
    ndarray, shape (S, P)
    """
    r = resid * mask
    n = mask.sum(axis=1)[None, :]
    s1 = r.sum(axis=2)
    b = participant_var[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        var = np.where(b > 0, 1.0 / (1.0 / np.where(b > 0, b, 1.0) + n / resid_var), 0.0)
    mean = var * s1 / resid_var
    return mean + np.sqrt(var) * rng.standard_normal(mean.shape)
