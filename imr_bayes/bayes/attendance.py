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

from typing import Any

import numpy as np
import pandas as pd

from imr_bayes import outcomes
from imr_bayes.bayes import extension as ext
from imr_bayes.constants import TIMES
from imr_bayes.errors import DataValidationError

#: Sessions per unit of the moderator.
SESSIONS_UNIT: int = 10
#: The label every estimand of this analysis carries in the ``note`` column.
NOTE: str = ("NON-RANDOMIZED: attendance is chosen after randomization; an association, "
             "not a causal dose-response")
DOSE_PRIORS: dict[str, dict[str, Any]] = {
    "condition_x_sessions": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 0.5}},
    "attendance_slope": {"dist": "Normal", "kwargs": {"mu": 0.0, "sigma": 0.25}},
}
OPTIONS: tuple[str, ...] = ("priors",)


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


def fit_attendance_dose(data: pd.DataFrame, request) -> Any:
    """Fit the (non-randomized) attendance moderator model to one outcome.

    Returns
    -------
    imr_bayes.bayes.api.BayesianFit
        Effects ``attendance_slope`` (per 10 sessions, raw and ``_d``),
        ``condition_x_time`` (at mean attendance), ``condition_x_sessions``; every row has
        ``note`` = :data:`NOTE`.
    """
    from imr_bayes.bayes.itt import make_panel, sd_parameters
    from imr_bayes.spec import priors_for

    spec = request.spec
    ext.check_options(spec, OPTIONS)
    if spec.time != "linear":
        raise DataValidationError(["attendance_dose uses linear time (time: linear)"])
    panel = make_panel(data, request.outcome, spec)
    sessions = sessions_per_participant(data, panel.participants, panel.treated)
    treated = panel.treated > 0
    mean_sessions = float(sessions[treated].mean())
    s = np.where(treated, (sessions - mean_sessions) / SESSIONS_UNIT, 0.0)
    t = np.asarray(TIMES, dtype=float)[None, :]
    extra = np.stack([s[:, None] * np.ones_like(t), s[:, None] * t], axis=-1)
    terms = (*panel.terms, "condition_x_sessions", "attendance_slope")
    panel = ext.design_panel(panel, np.concatenate([panel.X, extra], axis=2), terms)
    direction = outcomes.get(request.outcome).direction
    priors = priors_for(request.prior_set, tuple(spec.terms) + sd_parameters(spec), direction)
    priors.update(ext.option_priors(spec, DOSE_PRIORS))
    draws, post_raw, stats = ext.sample_lmm(panel, request, priors)
    variables = ext.lmm_variables(draws, panel, spec)
    posterior = ext.dataset(variables, post_raw, {"term": list(terms),
                                                  "group": list(panel.groups),
                                                  "arm": ["imr", "cau"]})
    effects = ext.lmm_effects(request, panel, variables, terms,
                              ("condition_x_time", "attendance_slope"), direction)
    effects["note"] = NOTE
    groups = ext.lmm_groups(panel, draws, post_raw, seed=request.seed,
                            posterior_predictive=request.posterior_predictive)
    var_names = [v for v in ("beta", "sigma_participant", "sigma_group", "sigma_residual",
                             "group_effect") if v in posterior]
    return ext.finish(data, request, posterior=posterior, sample_stats=stats, groups=groups,
                      effects=effects, var_names=var_names, priors=priors,
                      n_rows=panel.n_rows,
                      extra_attrs={"note": NOTE, "sessions_unit": SESSIONS_UNIT,
                                   "mean_sessions_imr": mean_sessions})
