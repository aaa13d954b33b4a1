"""The synthetic twin against the published design and results (Tables 1-7, the text).

Tolerances: a mean matches a printed number when it lies within half a unit of the printed
precision, or within the granularity limit step / (2 n) where the scale's granularity does
not allow the printed value (e.g. a sum score over 53 participants); counts match exactly.
"""

from __future__ import annotations

import math
import subprocess
import sys
import time
import warnings

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
import statsmodels.formula.api as smf

from imr_bayes import ImrBayesError, published
from imr_bayes.cli import main
from imr_bayes.constants import DEFAULT_SEED
from imr_bayes.data import default_twin, load, simulate_twin, validate
from imr_bayes.outcomes import CODES, OUTCOMES
from imr_bayes.provenance import data_sha256


@pytest.fixture(scope="module")
def twin() -> pd.DataFrame:
    return default_twin()


@pytest.fixture(scope="module")
def people(twin) -> pd.DataFrame:
    return twin[twin["time"] == 0].reset_index(drop=True)


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


def _printed_means(table: str) -> pd.DataFrame:
    printed = published.printed(table)
    return printed.assign(time=printed["time"].astype(int), n=printed["n"].astype(int),
                          value=printed["mean"].astype(float),
                          decimals=printed["mean"].map(_decimals))


def _tolerance(code: str, n: int, decimals: int) -> float:
    step = OUTCOMES[code].step
    return max(0.5 * 10.0**-decimals, (step or 0.0) / (2 * n)) + 1e-9


def test_exact_twin_validates_and_has_the_published_design(twin, people):
    assert validate(twin).equals(twin)
    assert len(twin) == 187 * 3
    assert people["arm"].value_counts().to_dict() == {"imr": 116, "cau": 71}
    assert sorted(people["team"].unique()) == list(range(1, 15))
    imr = people[people["arm"] == "imr"]
    assert imr["imr_group"].nunique() == 15 and imr["imr_group"].notna().all()


def test_permuted_blocks_of_five_stratified_by_team(people):
    # participants are numbered in enrolment order within team: every complete block of five
    # holds 3 IMR and 2 CAU
    for _, team in people.sort_values("participant_id").groupby("team"):
        arms = team["arm"].to_numpy()
        for start in range(0, len(arms) - len(arms) % 5, 5):
            assert (arms[start:start + 5] == "imr").sum() == 3


def test_attendance_matches_the_results_text(people):
    imr = people[people["arm"] == "imr"]
    att = imr["sessions_attended"].astype(float)
    comp = imr["completer"].astype(bool)
    assert comp.sum() == 57
    assert (round(att.mean(), 2), round(att.std(), 2)) == (23.57, 21.09)
    assert (round(att[comp].mean(), 1), round(att[comp].std(), 2)) == (42.4, 12.64)
    share = att / imr["sessions_scheduled"].astype(float)
    assert ((share >= 0.5) == comp).all()
    # about 53 scheduled sessions; shares near the printed 44.6 % and 80.1 % (no exact claim)
    assert 48 <= imr["sessions_scheduled"].astype(float).mean() <= 58
    assert abs(share.mean() - 0.446) < 0.05 and abs(share[comp].mean() - 0.801) < 0.05


def test_fidelity_groups_match_the_results_text(people):
    imr = people[people["arm"] == "imr"]
    scores = imr.groupby("imr_group")["fidelity"].first()
    high, mod = scores[scores >= 4.0], scores[scores < 4.0]
    assert len(high) == 8 and len(mod) == 7
    assert (round(high.min(), 2), round(high.max(), 2)) == (4.00, 4.54)
    assert (round(mod.min(), 2), round(mod.max(), 2)) == (3.46, 3.92)
    assert (round(scores.mean(), 2), round(scores.std(), 2)) == (3.94, 0.29)
    np.testing.assert_allclose(scores * 13, np.round(scores * 13), atol=1e-9)
    engaged = imr[imr["sessions_attended"].astype(float) >= 10]
    assert len(engaged) == 68
    assert (engaged["fidelity"] >= 4.0).sum() == 39


def test_table1_counts_exactly_as_printed(people):
    t1 = published.baseline()
    cats = t1[t1["category"].notna() & (t1["category"] != "") & t1["n"].notna()]
    for row in cats.itertuples():
        arm = people[people["arm"] == row.arm]
        if row.variable.startswith("diagnosis_"):
            count = int(arm[row.variable].astype(bool).sum())
        else:
            count = int((arm[row.variable] == row.category).sum())
        assert count == int(row.n), (row.variable, row.category, row.arm)
    for arm in ("imr", "cau"):
        age = t1[(t1["variable"] == "age") & (t1["arm"] == arm)].iloc[0]
        ages = people.loc[people["arm"] == arm, "age"]
        assert (round(ages.mean(), 1), round(ages.std(), 1)) == (age["mean"], age["sd"])
    never = people["admissions"] == "none"
    assert (never == (people["hospitalization_length"] == "none")).all()


def test_table3_ns_and_means_for_all_outcomes(twin):
    means = _printed_means("table3")
    assert set(means["outcome"]) == set(CODES)
    for row in means.itertuples():
        values = twin.loc[(twin["arm"] == row.arm) & (twin["time"] == row.time),
                          row.outcome].dropna()
        assert len(values) == row.n, row
        assert abs(values.mean() - row.value) <= _tolerance(row.outcome, row.n, row.decimals), row


def test_table7_completer_means_for_all_outcomes(twin):
    means = _printed_means("table7")
    comp = twin[(twin["arm"] == "imr") & twin["completer"].fillna(False).astype(bool)]
    for row in means[means["arm"] == "imr"].itertuples():
        values = comp.loc[comp["time"] == row.time, row.outcome].dropna()
        assert len(values) == row.n, row
        assert abs(values.mean() - row.value) <= _tolerance(row.outcome, row.n, row.decimals), row


def test_baseline_sds_close_to_table1(twin):
    base = twin[twin["time"] == 0]
    for code in CODES:
        for arm in ("imr", "cau"):
            sd = base.loc[base["arm"] == arm, code].std()
            target = OUTCOMES[code].baseline_sd(arm)
            # ASI: the printed SD (1.3 at mean 0.5 on 0-4) is at the bound of what the
            # range allows; a clipped normal reaches about 3/4 of it (docs/twin.md)
            rel = 0.40 if code == "asi" else 0.15
            assert abs(sd / target - 1) <= rel, (code, arm, sd, target)


def test_values_respect_scale_range_and_granularity():
    for data in (default_twin(), simulate_twin(seed=11, mode="random")):
        for code in CODES:
            o = OUTCOMES[code]
            v = data[code].dropna().to_numpy()
            if o.scale_min is not None:
                assert v.min() >= o.scale_min - 1e-9 and v.max() <= o.scale_max + 1e-9
            if o.step is not None:
                np.testing.assert_allclose(v / o.step, np.round(v / o.step), atol=1e-6)


def _lmm_condition_x_time(data: pd.DataFrame, code: str) -> float:
    rows = data.dropna(subset=[code]).assign(
        condition=lambda d: (d["arm"] == "imr").astype(float),
        y=lambda d: d[code].astype(float), t=lambda d: d["time"].astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("y ~ t * condition", rows, groups=rows["participant_id"]).fit(
            reml=True)
    return float(fit.fe_params["t:condition"])


@pytest.mark.parametrize("sample", ["itt", "completers"])
def test_exact_twin_estimates_inside_published_cis(twin, sample):
    """statsmodels MixedLM (REML, random intercept, linear time) on the exact twin."""
    data = twin
    if sample == "completers":
        data = twin[(twin["arm"] == "cau") | twin["completer"].fillna(False).astype(bool)]
    fe = published.fixed_effects(sample)
    cells = fe[(fe["term"] == "condition_x_time") & fe["b"].notna()]
    assert len(cells) == (5 if sample == "itt" else 6)
    for row in cells.itertuples():
        est = _lmm_condition_x_time(data, row.outcome)
        assert row.ci_low <= est <= row.ci_high, (row.outcome, est, row.ci_low, row.ci_high)


def test_hospitalization_matches_published_or_and_los(people):
    X = pd.DataFrame({"const": 1.0, "imr": (people["arm"] == "imr").astype(float),
                      "before": people["hosp_before"].astype(float)})
    fit = sm.Logit(people["hosp_after"].astype(float), X).fit(disp=0)
    assert abs(math.exp(fit.params["imr"]) - 1.22) < 0.05
    diff = people["los_after"] - people["los_before"]
    for arm, mean, sd in (("imr", -7.72, 51.19), ("cau", -4.46, 44.23)):
        d = diff[people["arm"] == arm]
        assert (round(d.mean(), 2), round(d.std(), 2)) == (mean, sd)
        assert (d == 0).mean() > 0.5  # many zeros
    assert ((people["los_before"] > 0) == (people["hosp_before"] == 1)).all()
    assert ((people["los_after"] > 0) == (people["hosp_after"] == 1)).all()


def test_same_seed_same_data_across_processes():
    here = data_sha256(simulate_twin(seed=123, mode="random"))
    code = ("from imr_bayes.data import simulate_twin; from imr_bayes.provenance import "
            "data_sha256; print(data_sha256(simulate_twin(seed=123, mode='random')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={"PYTHONHASHSEED": "977", "PATH": "",
                                                     "OMP_NUM_THREADS": "1"})
    assert out.stdout.strip() == here
    assert data_sha256(simulate_twin(seed=124, mode="random")) != here


def test_exact_twin_is_deterministic(twin):
    assert data_sha256(simulate_twin(seed=DEFAULT_SEED)) == data_sha256(twin)


def test_random_twins_are_valid_fast_and_vary():
    simulate_twin(seed=0, mode="random")  # warm the caches of published numbers
    start = time.perf_counter()
    twins = [simulate_twin(seed=s, mode="random") for s in (1, 2, 3)]
    per_twin = (time.perf_counter() - start) / 3
    assert per_twin < 1.5  # about 0.2 s on an idle core; generous for a shared machine
    for data in twins:
        validate(data)
        assert data.groupby("arm")["participant_id"].nunique().to_dict() == {"imr": 116,
                                                                             "cau": 71}
    assert not twins[0]["imrs_client"].equals(twins[1]["imrs_client"])


def test_bad_arguments_raise_domain_errors():
    with pytest.raises(ImrBayesError, match="unknown twin mode 'exakt'. Did you mean 'exact'"):
        simulate_twin(mode="exakt")
    with pytest.raises(ImrBayesError, match="unknown twin parameter 'group_ic'"):
        simulate_twin(mode="random", group_ic=0.1)
    with pytest.raises(ImrBayesError, match="group_icc must be in"):
        simulate_twin(mode="random", group_icc=0.9)
    with pytest.raises(ImrBayesError, match="seed must be a non-negative integer"):
        simulate_twin(seed=-1)


def test_group_icc_parameter_changes_between_group_spread():
    def spread(icc: float) -> float:
        data = simulate_twin(seed=5, mode="random", group_icc=icc)
        post = data[(data["arm"] == "imr") & (data["time"] > 0)]
        return float(post.groupby("imr_group")["sers_sf"].mean().std())

    assert spread(0.3) > spread(0.0)


def test_cli_simulate_writes_the_twin_atomically(tmp_path, capsys):
    out = tmp_path / "twin.csv"
    assert main(["simulate", "--seed", "7", "--mode", "random", "--out", str(out)]) == 0
    assert "187 participants" in capsys.readouterr().out
    assert data_sha256(load(out)) == data_sha256(simulate_twin(seed=7, mode="random"))
    assert main(["simulate", "--seed", "7", "--out", str(tmp_path / "twin.xlsx")]) == 2
    assert "unknown file extension '.xlsx'" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["twin.csv"]


@pytest.mark.parametrize(("code", "target"), [("asi", 0.27), ("ses", 11.2), ("is", 10.1),
                                              ("imrs_client", 3.55)])
def test_latent_means_unbias_floors_and_ceilings(code, target):
    """Monte Carlo reference: rounding and clipping N(mu, sd) to the scale gives ``target``."""
    from imr_bayes.data.twin_exact import snap
    from imr_bayes.data.twin_outcomes import latent_means, latent_sd

    sd = latent_sd(code, "imr")
    mu = float(latent_means(code, "imr", np.array([target]))[0])
    draws = snap(np.random.default_rng(0).normal(mu, sd, 400_000), OUTCOMES[code])
    assert abs(draws.mean() - target) < 4 * draws.std() / math.sqrt(len(draws))


def test_gls_helper_reproduces_statsmodels_fixed_effect(twin):
    """The exact-mode GLS shortcut equals MixedLM's estimate at MixedLM's own variance ratio."""
    from imr_bayes.data.twin_outcomes import gls_condition_x_time

    code = "sers_sf"
    rows = twin.dropna(subset=[code]).assign(
        condition=lambda d: (d["arm"] == "imr").astype(float),
        y=lambda d: d[code].astype(float), t=lambda d: d["time"].astype(float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = smf.mixedlm("y ~ t * condition", rows, groups=rows["participant_id"]).fit(
            reml=True)
    var_b = float(fit.cov_re.iloc[0, 0])
    rho = var_b / (var_b + fit.scale)
    wide = twin.pivot(index="participant_id", columns="time", values=code)
    imr = (twin.groupby("participant_id")["arm"].first() == "imr").loc[wide.index]
    est = gls_condition_x_time(wide.to_numpy(float), imr.to_numpy(bool), rho)
    assert est == pytest.approx(float(fit.fe_params["t:condition"]), rel=1e-5)
