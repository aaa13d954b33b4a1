"""Attendance dose-response: sessions attended as a continuous moderator in the IMR arm.

NON-RANDOMIZED. Attendance is chosen by the participant after randomization, so the
association of attendance with the treatment effect mixes the effect of the sessions with
whatever makes people attend (motivation, health, ...). It describes, it does not identify a
causal dose-response; ``analysis="cace"`` is the randomization-respecting alternative for
completion.

Model: the ITT linear mixed model (all participants; linear time; participant intercept
integrated out; IMR-group effect after baseline) with two more fixed columns for the IMR arm,
``s_i = (sessions_i - mean sessions of the IMR arm) / 10``::

    z_it = ... + c_i (condition + condition_x_time t)
               + c_i s_i (condition_x_sessions + attendance_slope t) + ...

``attendance_slope`` is the change of the per-step treatment effect per 10 sessions
attended (outcome units); ``condition_x_time`` is the per-step effect at the IMR arm's mean
attendance; ``condition_x_sessions`` is the baseline difference associated with attendance
(a selection check: attendance cannot cause a baseline difference).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from imr_bayes.constants import TIMES
from imr_bayes.errors import DataValidationError

#: Sessions per unit of the moderator.
SESSIONS_UNIT: int = 10


def sessions_per_participant(data: pd.DataFrame, participants: np.ndarray,
                             treated: np.ndarray) -> np.ndarray:
    """Sessions attended of each participant (NaN for controls).

    Raises
    ------
    DataValidationError
        If the column is missing or an IMR participant has no value.
    """
    if "sessions_attended" not in data.columns:
        raise DataValidationError(["missing column 'sessions_attended'"])
    per = data.drop_duplicates("participant_id")
    s = pd.Series(pd.to_numeric(per["sessions_attended"], errors="coerce").to_numpy(float),
                  index=per["participant_id"].astype(str).to_numpy())
    out = s.reindex(participants).to_numpy(float)
    if np.isnan(out[treated > 0]).any():
        raise DataValidationError(["IMR participants with a missing 'sessions_attended'"])
    return np.where(treated > 0, out, np.nan)


def attendance_design(panel, rows: pd.DataFrame, request):
    """Return the attendance moderator design (linear time; NON-RANDOMIZED).

    Adds ``c_i s_i`` (``condition_x_sessions``) and ``c_i s_i t`` (``attendance_slope``) to
    the standard ITT design, ``s_i`` = (sessions - IMR-arm mean) / :data:`SESSIONS_UNIT`;
    their priors come from the spec's ``priors``.
    """
    from imr_bayes.bayes.lmm import Design, shared_priors, with_design

    sessions = sessions_per_participant(rows, panel.participants, panel.treated)
    treated = panel.treated > 0
    mean_sessions = float(sessions[treated].mean())
    s = np.where(treated, (sessions - mean_sessions) / SESSIONS_UNIT, 0.0)
    t = np.asarray(TIMES, dtype=float)[None, :]
    extra = np.stack([s[:, None] * np.ones_like(t), s[:, None] * t], axis=-1)
    priors = shared_priors(request, panel)
    panel = with_design(panel, np.concatenate([panel.X, extra], axis=2),
                        (*panel.terms, "condition_x_sessions", "attendance_slope"))
    priors.update(request.spec.resolved_priors())
    return Design(panel=panel, priors=priors,
                  attrs={"sessions_unit": SESSIONS_UNIT, "mean_sessions_imr": mean_sessions})
