"""Design of the synthetic twin.

Participants, randomization, IMR groups, attendance, fidelity, baseline characteristics
and hospitalizations.

Every target is read from the published numbers (:mod:`imr_bayes.published`: Table 1 and
the results text); ``docs/twin.md`` gives the source and every assumption. In ``exact``
mode the printed summaries are reproduced to their printed precision; in ``random`` mode
they hold in expectation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from functools import cache

import numpy as np
import pandas as pd

from imr_bayes import published
from imr_bayes.constants import ARMS, N_IMR_GROUPS, N_RANDOMIZED, N_TEAMS
from imr_bayes.data.contract import CATEGORICAL_COLUMNS, DIAGNOSIS_COLUMNS
from imr_bayes.data.twin_exact import climb_mean_sd, mean_sd_objective
from imr_bayes.errors import ImrBayesError
from imr_bayes.outcomes import unknown_choice_message
from imr_bayes.trial import facts

MODES: tuple[str, ...] = ("exact", "random")
#: Most sessions scheduled for one participant (weekly sessions over 18 months; assumed).
MAX_SCHEDULED: int = 78


@dataclass(frozen=True)
class TwinParams:
    """Generative assumptions of the twin that the paper does not report.

    Every field is documented in ``docs/twin.md``; pass any of them to
    :func:`imr_bayes.data.simulate_twin` as a keyword.

    Attributes
    ----------
    group_icc : float
        Share of an outcome's total variance due to the IMR group after baseline.
    team_concentration : float
        Dirichlet concentration of the team sizes (larger = more equal teams).
    completer_session_bounds : tuple of int
        Range of sessions a completer attended.
    p_hosp_before : float
        Probability of a hospitalization in the year before baseline among participants
        ever admitted (participants with no admission are never hospitalized).
    p_hosp_after : float
        Probability of a hospitalization in the year after 12 months for a CAU
        participant not hospitalized the year before baseline.
    or_hosp_prior : float
        Odds ratio of a hospitalization after 12 months for participants hospitalized the
        year before baseline.
    los_median_before, los_median_after : float
        Median length of stay (days) of a hospitalized participant.
    los_sigma : float
        Log-scale SD of the length of stay (heavy right tail).
    hosp_draws : int
        Exact mode: draws of ``hosp_after`` among which the one with the adjusted odds
        ratio closest to the published 1.22 is kept.
    exact_tries : int
        Exact mode: draws of an outcome's residuals among which the one whose
        condition x time estimates (GLS at the calibrated correlation) are closest to the
        printed Table 2 and Table 6 coefficients is kept.
    """

    group_icc: float = 0.02
    team_concentration: float = 5.0
    completer_session_bounds: tuple[int, int] = (20, 72)
    p_hosp_before: float = 0.3
    p_hosp_after: float = 0.15
    or_hosp_prior: float = 4.0
    los_median_before: float = 35.0
    los_median_after: float = 17.0
    los_sigma: float = 1.0
    hosp_draws: int = 300
    exact_tries: int = 20

    @classmethod
    def from_kwargs(cls, **params: object) -> TwinParams:
        """Build parameters from keywords; unknown names raise with the valid names."""
        names = [f.name for f in fields(cls)]
        for key in params:
            if key not in names:
                raise ImrBayesError(unknown_choice_message("twin parameter", key, names))
        out = cls(**params)  # type: ignore[arg-type]
        if not 0.0 <= out.group_icc < 0.5:
            raise ImrBayesError(f"group_icc must be in [0, 0.5), got {out.group_icc}")
        for name in ("p_hosp_before", "p_hosp_after"):
            value = getattr(out, name)
            if not 0.0 < value < 1.0:
                raise ImrBayesError(f"{name} must be in (0, 1), got {value}")
        return out


@cache
def _text() -> dict[str, float]:
    t = published.text_results()
    return {k: float(v) for k, v in zip(t["key"], t["value"], strict=True)}


def text(key: str) -> float:
    """Return one number of the published results text (``imr_bayes.published``)."""
    return _text()[key]


def randomize(rng: np.random.Generator, params: TwinParams) -> pd.DataFrame:
    """Permuted blocks of five (3 IMR : 2 CAU) stratified by 14 teams.

    Team sizes are drawn, participants are allocated in enrolment order within each team,
    and the whole allocation is redrawn until the arms have the published sizes
    (116 IMR, 71 CAU), i.e. the twin conditions on the realized allocation. Block size,
    allocation and team count are the trial facts (``randomization``).
    """
    n = sum(N_RANDOMIZED.values())
    design = facts().randomization
    block = np.array([arm for arm in ARMS for _ in range(design.allocation[arm])])
    for _ in range(10_000):
        share = rng.dirichlet(np.full(N_TEAMS, params.team_concentration))
        sizes = rng.multinomial(n, share)
        if sizes.min() < 1:
            continue
        teams, arms = [], []
        for team, size in enumerate(sizes, start=1):
            n_blocks = math.ceil(size / design.block_size)
            seq = np.concatenate([rng.permutation(block) for _ in range(n_blocks)])[:size]
            teams.extend([team] * size)
            arms.extend(seq.tolist())
        arms_arr = np.array(arms)
        if int((arms_arr == "imr").sum()) == N_RANDOMIZED["imr"]:
            ids = [f"P{i:03d}" for i in range(1, n + 1)]
            return pd.DataFrame({"participant_id": ids, "arm": arms_arr,
                                 "team": np.array(teams, dtype=np.int64)})
    raise ImrBayesError("randomization did not reach the published arm sizes")  # pragma: no cover


def fidelity_scores(rng: np.random.Generator, exact: bool) -> np.ndarray:
    """Group fidelity scores: 8 groups 4.00-4.54, 7 groups 3.46-3.92 (multiples of 1/13).

    Exact mode also matches the printed mean 3.94 and SD 0.29 over the 15 groups.
    """
    items = facts().fidelity.items
    hi_lo, hi_hi = (round(text(k) * items) for k in ("fidelity_high_min", "fidelity_high_max"))
    mo_lo, mo_hi = (round(text(k) * items) for k in ("fidelity_moderate_min",
                                                       "fidelity_moderate_max"))
    n_hi, n_mo = int(text("fidelity_high_groups")), int(text("fidelity_moderate_groups"))
    mean, sd = text("fidelity_mean"), text("fidelity_sd")
    for _ in range(100_000):
        high = np.concatenate([[hi_lo, hi_hi], rng.integers(hi_lo, hi_hi + 1, n_hi - 2)])
        mod = np.concatenate([[mo_lo, mo_hi], rng.integers(mo_lo, mo_hi + 1, n_mo - 2)])
        scores = np.concatenate([high, mod]) / items
        if not exact or (round(scores.mean(), 2) == mean
                         and round(scores.std(ddof=1), 2) == sd):
            return rng.permutation(scores)
    raise ImrBayesError("could not draw fidelity scores")  # pragma: no cover


def _match(values: np.ndarray, lo: np.ndarray, hi: np.ndarray, rng: np.random.Generator,
           mean: float, sd: float, decimals: tuple[int, int], **extra: float) -> np.ndarray:
    objective = mean_sd_objective(mean, sd, decimals, **extra)  # type: ignore[arg-type]
    return climb_mean_sd(values, lo, hi, objective, rng, steps=(1, 2, 5))


def attendance(rng: np.random.Generator, exact: bool, params: TwinParams) -> pd.DataFrame:
    """Sessions attended and scheduled for the 116 IMR participants.

    57 completers (>= 50 % of scheduled) attend 42.4 sessions on average (SD 12.64); all
    116 attend 23.57 (SD 21.09); 68 attend >= 10 sessions (57 completers + 11 others).
    Scheduled sessions follow from the share attended: completers 80.1 % (SD 13.05 %),
    rolling admission giving late joiners fewer scheduled sessions.
    """
    n = N_RANDOMIZED["imr"]
    n_comp_pub = int(text("completers_n"))
    n_ge10_pub = int(text("fidelity_participants"))
    comp_mean, comp_sd = text("completers_sessions_mean"), text("completers_sessions_sd")
    all_mean, all_sd = text("attendance_sessions_mean"), text("attendance_sessions_sd")
    c_lo, c_hi = params.completer_session_bounds
    min_sessions = facts().fidelity.min_sessions
    if exact:
        n_comp, n_mid = n_comp_pub, n_ge10_pub - n_comp_pub
    else:
        n_comp = int(rng.binomial(n, n_comp_pub / n))
        n_mid = int(rng.binomial(n - n_comp, (n_ge10_pub - n_comp_pub) / (n - n_comp_pub)))
    n_low = n - n_comp - n_mid
    comp = np.clip(np.round(rng.normal(comp_mean, comp_sd, n_comp)), c_lo, c_hi)
    # non-completers: mean 5.4 (SD 6.5) follows from the arm and completer moments
    mid = rng.integers(min_sessions, 26, n_mid).astype(float)
    low = np.minimum(np.floor(rng.exponential(2.7, n_low)), min_sessions - 1)
    if exact:
        comp = _match(comp, np.full(n_comp, c_lo), np.full(n_comp, c_hi), rng,
                      comp_mean, comp_sd, (2, 2))
        non = np.concatenate([mid, low])
        lo = np.concatenate([np.full(n_mid, min_sessions), np.zeros(n_low)])
        hi = np.concatenate([np.full(n_mid, 25), np.full(n_low, min_sessions - 1)])
        non = _match(non, lo, hi, rng, all_mean, all_sd, (2, 2), n_extra=n_comp,
                     s1_extra=float(comp.sum()), s2_extra=float((comp**2).sum()))
        mid, low = non[:n_mid], non[n_mid:]
    share_mean = text("completers_pct_scheduled_mean") / 100
    share_sd = text("completers_pct_scheduled_sd") / 100
    share = np.clip(rng.normal(share_mean, share_sd, n_comp),
                    facts().completion.completer_share, 1.0)
    comp_sched = np.clip(np.round(comp / share), comp, np.minimum(2 * comp, MAX_SCHEDULED))
    non = np.concatenate([mid, low])
    non_sched = np.maximum(np.round(rng.normal(53, 5, len(non))), 2 * non + 1)
    attended = np.concatenate([comp, non]).astype(np.int64)
    scheduled = np.concatenate([comp_sched, non_sched]).astype(np.int64)
    order = rng.permutation(n)
    return pd.DataFrame({"sessions_attended": attended[order],
                         "sessions_scheduled": scheduled[order]})


def assign_groups(rng: np.random.Generator, attended: np.ndarray, exact: bool
                  ) -> tuple[np.ndarray, np.ndarray]:
    """IMR group of each IMR participant and the group fidelity scores.

    Exact mode places the participants with >= 10 sessions so that 39 are in the 8
    high-fidelity groups and 29 in the 7 moderate ones; others join any group (rolling
    admission). Random mode assigns groups uniformly.

    Returns
    -------
    (groups, scores)
        Group labels ``G01``..``G15`` per participant and the 15 scores in label order.
    """
    scores = fidelity_scores(rng, exact)
    rule = facts().fidelity
    labels = np.array([f"G{g:02d}" for g in range(1, N_IMR_GROUPS + 1)])
    high = np.flatnonzero(scores >= rule.high_threshold)
    mod = np.flatnonzero(scores < rule.high_threshold)
    group = rng.integers(0, N_IMR_GROUPS, len(attended))
    if exact:
        engaged = rng.permutation(np.flatnonzero(attended >= rule.min_sessions))
        n_high = int(text("fidelity_high_n"))
        for idx, pool in ((engaged[:n_high], high), (engaged[n_high:], mod)):
            group[idx] = rng.permutation(np.resize(rng.permutation(pool), len(idx)))
    return labels[group], scores


@cache
def _table1() -> dict[tuple[str, str], tuple[list, np.ndarray, float, float]]:
    t1 = published.baseline()
    out = {}
    for (var, arm), rows in t1.groupby(["variable", "arm"], sort=False):
        out[(str(var), str(arm))] = (rows["category"].tolist(),
                                     rows["n"].astype(float).to_numpy(),
                                     float(rows["mean"].iloc[0]), float(rows["sd"].iloc[0]))
    return out


def baseline_characteristics(rng: np.random.Generator, arms: np.ndarray, exact: bool
                             ) -> pd.DataFrame:
    """Draw the Table 1 characteristics per arm.

    Exact counts (exact mode) or draws with the published shares (random mode); age
    matched to the printed mean and SD per arm.

    Participants without admissions are exactly those never hospitalized (Table 1 prints
    the same counts for "Number of admissions: None" and "Not hospitalized").
    """
    t1 = _table1()
    n_all = len(arms)
    cols: dict[str, np.ndarray] = {
        c: np.empty(n_all, dtype=object) for c in (*CATEGORICAL_COLUMNS, *DIAGNOSIS_COLUMNS)
    }
    cols["age"] = np.full(n_all, np.nan)
    age_lo, age_hi = facts().eligibility.age
    for arm in ARMS:
        idx = np.flatnonzero(arms == arm)
        n = len(idx)
        for col in (*CATEGORICAL_COLUMNS, *DIAGNOSIS_COLUMNS):
            if col == "admissions":
                continue
            labels, counts, _, _ = t1[(col, arm)]
            if col in DIAGNOSIS_COLUMNS:
                labels, counts = [True, False], np.array([counts[0], n - counts[0]])
            cols[col][idx] = _categories(rng, labels, counts, n, exact)
        cols["admissions"][idx] = _admissions(rng, t1[("admissions", arm)],
                                              cols["hospitalization_length"][idx], exact)
        _, _, mean, sd = t1[("age", arm)]
        ages = np.clip(np.round(rng.normal(mean, sd, n)), age_lo, age_hi)
        if exact:
            ages = _match(ages, np.full(n, age_lo), np.full(n, age_hi), rng, mean, sd, (1, 1))
        cols["age"][idx] = ages
    out = pd.DataFrame(cols)
    for col in DIAGNOSIS_COLUMNS:
        out[col] = out[col].astype("boolean")
    return out


def _categories(rng: np.random.Generator, labels: list, counts: np.ndarray, n: int,
                exact: bool) -> np.ndarray:
    if exact:
        reps = np.round(counts).astype(int)
        reps[np.argmax(reps)] += n - reps.sum()
        return rng.permutation(np.repeat(np.array(labels, dtype=object), reps))
    return rng.choice(np.array(labels, dtype=object), size=n, p=counts / counts.sum())


def _admissions(rng: np.random.Generator, table: tuple[list, np.ndarray, float, float],
                length: np.ndarray, exact: bool) -> np.ndarray:
    counts = dict(zip(table[0], table[1], strict=True))
    out = np.full(len(length), "none", dtype=object)
    ever = np.flatnonzero(length != "none")
    others = [c for c in counts if c != "none"]
    out[ever] = _categories(rng, others, np.array([counts[c] for c in others]), len(ever),
                            exact)
    return out


def _adjusted_log_or(after: np.ndarray, before: np.ndarray, imr: np.ndarray) -> float:
    """Treatment log odds ratio of a logistic regression adjusted for ``before`` (Newton)."""
    X = np.column_stack([np.ones(len(after)), imr, before])
    beta = np.zeros(3)
    for _ in range(25):
        p = 1 / (1 + np.exp(-(X @ beta)))
        w = p * (1 - p)
        step = np.linalg.solve(X.T @ (X * w[:, None]) + 1e-9 * np.eye(3), X.T @ (after - p))
        beta += step
        if np.max(np.abs(step)) < 1e-10:
            break
    return float(beta[1])


def hospitalizations(rng: np.random.Generator, arms: np.ndarray, admissions: np.ndarray,
                     exact: bool, params: TwinParams) -> pd.DataFrame:
    """Draw hospitalizations and lengths of stay.

    Hospitalization in the year before baseline and in the year after 12 months.

    The treatment odds ratio adjusted for prior hospitalization is the published 1.22; the
    length-of-stay differences (after - before) have the published means and SDs per arm
    (IMR -7.72, SD 51.19; CAU -4.46, SD 44.23), with many zeros and heavy tails.
    """
    n = len(arms)
    imr = (arms == "imr").astype(float)
    ever = admissions != "none"
    before = (ever & (rng.random(n) < params.p_hosp_before)).astype(float)
    log_or = math.log(text("hosp_or"))
    eta = (math.log(params.p_hosp_after / (1 - params.p_hosp_after))
           + math.log(params.or_hosp_prior) * before + log_or * imr)
    p_after = 1 / (1 + np.exp(-eta))
    draws = params.hosp_draws if exact else 1
    best, best_gap = None, math.inf
    for _ in range(draws):
        after = (rng.random(n) < p_after).astype(float)
        gap = abs(_adjusted_log_or(after, before, imr) - log_or) if exact else 0.0
        if gap < best_gap:
            best, best_gap = after, gap
    after = best
    los_b = np.where(before == 1, np.clip(np.round(
        rng.lognormal(math.log(params.los_median_before), params.los_sigma, n)), 1, 365), 0.0)
    los_a = np.where(after == 1, np.clip(np.round(
        rng.lognormal(math.log(params.los_median_after), params.los_sigma, n)), 1, 365), 0.0)
    if exact:
        for arm in ARMS:
            idx = np.flatnonzero(arms == arm)
            los_b[idx], los_a[idx] = _match_los(rng, los_b[idx], los_a[idx],
                                                text(f"los_diff_{arm}_mean"),
                                                text(f"los_diff_{arm}_sd"))
    return pd.DataFrame({
        "hosp_before": before.astype(np.int64), "hosp_after": after.astype(np.int64),
        "los_before": los_b, "los_after": los_a,
    })


def _match_los(rng: np.random.Generator, los_b: np.ndarray, los_a: np.ndarray, mean: float,
               sd: float) -> tuple[np.ndarray, np.ndarray]:
    """Move hospital days until the after - before differences have the printed moments."""
    ib, ia = np.flatnonzero(los_b > 0), np.flatnonzero(los_a > 0)
    values = np.concatenate([los_b[ib], los_a[ia]])
    owner = np.concatenate([ib, ia])
    sign = np.concatenate([-np.ones(len(ib)), np.ones(len(ia))])
    lo, hi = np.ones(len(values)), np.full(len(values), 365.0)
    objective = mean_sd_objective(mean, sd, (2, 2))
    moved = climb_mean_sd(values, lo, hi, objective, rng, owner=owner, sign=sign,
                          n_derived=len(los_b), steps=(1, 3, 10, 30))
    los_b, los_a = los_b.copy(), los_a.copy()
    los_b[ib], los_a[ia] = moved[: len(ib)], moved[len(ib):]
    return los_b, los_a


def participants(rng: np.random.Generator, exact: bool, params: TwinParams) -> pd.DataFrame:
    """Draw one row per participant.

    Every participant-level column of the data contract, plus ``fidelity_class``
    (``high``/``moderate`` for IMR participants with >= 10 sessions).
    """
    people = randomize(rng, params)
    arms = people["arm"].to_numpy()
    imr = np.flatnonzero(arms == "imr")
    att = attendance(rng, exact, params)
    groups, scores = assign_groups(rng, att["sessions_attended"].to_numpy(), exact)
    n = len(people)
    people["imr_group"] = pd.Series([None] * n, dtype=object)
    people.loc[imr, "imr_group"] = groups
    for col in ("sessions_attended", "sessions_scheduled"):
        people[col] = pd.array([pd.NA] * n, dtype="Int64")
        people.loc[imr, col] = att[col].to_numpy()
    comp = pd.array([pd.NA] * n, dtype="boolean")
    share = facts().completion.completer_share
    comp[imr] = att["sessions_attended"].to_numpy() >= share * att["sessions_scheduled"].to_numpy()
    people["completer"] = comp
    score_of = dict(zip([f"G{g:02d}" for g in range(1, N_IMR_GROUPS + 1)], scores, strict=True))
    people["fidelity"] = people["imr_group"].map(score_of).astype(float)
    rule = facts().fidelity
    engaged = people["sessions_attended"].fillna(0).to_numpy() >= rule.min_sessions
    people["fidelity_class"] = np.where(
        engaged & (people["fidelity"].to_numpy() >= rule.high_threshold), "high",
        np.where(engaged, "moderate", ""))
    chars = baseline_characteristics(rng, arms, exact)
    people = pd.concat([people, chars], axis=1)
    hosp = hospitalizations(rng, arms, people["admissions"].to_numpy(), exact, params)
    return pd.concat([people, hosp], axis=1)
