"""Report sections and figures: numbers against the paper, markings, no participant rows.

Fits here are tiny stand-ins built on real ArviZ DataTrees (no sampling): they exercise how
the report tabulates, marks and draws fits, not the models themselves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pytest

import imr_bayes
from imr_bayes import registry, stages
from imr_bayes.estimates import Estimates
from imr_bayes.reanalysis import Reanalysis, RunContext, RunSettings, StageResult
from imr_bayes.report import barg, figures, sections
from imr_bayes.report.html import table_html

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _ctx(data=None, **settings) -> RunContext:
    return RunContext(settings=RunSettings(**settings), progress=lambda e: None, _data=data)


def _result(ctx: RunContext, **extra: StageResult) -> Reanalysis:
    """The run object the report renders, from a context whose stages ran."""
    return Reanalysis(run_id="test", settings=ctx.settings, started="2026-01-01T00:00:00",
                      seconds=1.0, stages={**ctx.results, **extra}, data_hash="0" * 64)


# --- forest data: published CIs and posterior ETIs on one standardized scale --------------

def test_forest_data_standardizes_published_b_by_pooled_table1_sd():
    from imr_bayes.counterparts import published_estimates

    spec = registry.get("itt")
    pub = pd.concat([published_estimates(spec, o).select(estimand="condition_x_time").table
                     for o in imr_bayes.outcomes.CODES])
    data = figures.forest_data(pub).set_index("outcome")
    # Table 2: only IMRS client, IMRS clinician, CSES, MHRM and SERS-SF keep condition x time.
    assert set(data.index) == {"imrs_client", "imrs_clinician", "cses", "mhrm", "sers_sf"}
    # CSES: B 4.13 (-1.98 to 10.25); Table 1 SDs 50.6 (IMR, n 116) and 51.0 (CAU, n 71).
    sd = math.sqrt((115 * 50.6**2 + 70 * 51.0**2) / 185)
    assert data.loc["cses", "estimate"] == pytest.approx(4.13 / sd, rel=1e-9)
    assert data.loc["cses", "low"] == pytest.approx(-1.98 / sd, rel=1e-9)
    assert data.loc["cses", "high"] == pytest.approx(10.25 / sd, rel=1e-9)
    # IMRS client: B 0.07 / SD 0.5 in both arms.
    assert data.loc["imrs_client", "estimate"] == pytest.approx(0.14)


def test_forest_data_flips_outcomes_where_lower_is_better():
    sd = {o: imr_bayes.outcomes.get(o).pooled_baseline_sd() for o in ("bsi", "imrs_client")}
    rows = pd.DataFrame({
        "source": "posterior", "analysis": ["itt", "itt"], "outcome": ["bsi", "imrs_client"],
        "estimate": [-0.2 * sd["bsi"], 0.1 * sd["imrs_client"]],
        "ci_low": [-0.5 * sd["bsi"], -0.05 * sd["imrs_client"]],
        "ci_high": [0.1 * sd["bsi"], 0.25 * sd["imrs_client"]]})
    data = figures.forest_data(rows).set_index("outcome")
    # BSI improves downward: a negative effect favours IMR and is drawn positive.
    assert data.loc["bsi", ["estimate", "low", "high"]].tolist() == pytest.approx(
        [0.2, -0.1, 0.5])
    assert data.loc["imrs_client", ["estimate", "low", "high"]].tolist() == pytest.approx(
        [0.1, -0.05, 0.25])
    assert list(data.index) == ["imrs_client", "bsi"]  # the paper's outcome order
    png = figures.to_png(figures.plot_forest(data.reset_index(), title="t"))
    assert png.startswith(PNG_MAGIC)


# --- summary-level section against hand-computed values -----------------------------------

@pytest.fixture(scope="module")
def summary_level_result():
    ctx = _ctx()
    return sections.summary_level(_result(ctx, summary_level=stages.summary_level(ctx)))


def test_summary_level_section_reproduces_hand_computed_reference_posterior(
        summary_level_result):
    res = summary_level_result
    assert res.status == "ok"
    # Primary outcome, Table 2: B 0.07 (0.0007 to 0.15). Normal likelihood, SE from the CI.
    se = (0.15 - 0.0007) / (2 * 1.959963984540054)
    p_gt_0 = 0.5 * (1 + math.erf(0.07 / se / math.sqrt(2)))
    assert res.summary["primary_itt_p_gt_0_reference"] == pytest.approx(p_gt_0, abs=1e-6)
    assert p_gt_0 == pytest.approx(0.967, abs=0.001)
    # Hospitalization OR: the hand-computed P(OR < 1) ~ 0.35 under the reference prior.
    assert res.summary["hospitalization_p_or_lt_1_reference"] == pytest.approx(0.35, abs=0.02)
    table = res.tables["p_benefit_by_prior"]
    assert "hospitalization" in set(table["outcome"])
    assert {f.name for f in res.figures} == {"sensitivity_primary",
                                             "sensitivity_hospitalization_or"}
    assert all(f.png.startswith(PNG_MAGIC) for f in res.figures)


# --- data summary: aggregates only -------------------------------------------------------

def _toy_long() -> pd.DataFrame:
    rows = []
    for i in range(6):
        arm = "imr" if i < 4 else "cau"
        for t in (0, 1, 2):
            value = np.nan if (i == 0 and t == 2) or (i == 5 and t > 0) else 3.0 + i + t
            rows.append({"participant_id": f"P{i:03d}", "arm": arm, "time": t,
                         "imrs_client": value})
    return pd.DataFrame(rows)


def test_data_summary_counts_per_arm_and_time_without_participant_rows():
    ctx = _ctx(_toy_long(), outcomes=("imrs_client",))
    res = sections.data_summary(_result(ctx, data=stages.data_summary(ctx)))
    wide = res.tables["observed_counts"].set_index("outcome")
    assert wide.loc["imrs_client", ["imr_t0", "imr_t1", "imr_t2"]].tolist() == [4, 4, 3]
    assert wide.loc["imrs_client", ["cau_t0", "cau_t1", "cau_t2"]].tolist() == [2, 1, 1]
    assert wide.loc["imrs_client", "pct_missing_overall"] == pytest.approx(round(100 * 3 / 18, 1))
    for table in res.tables.values():
        text = table.to_csv()
        assert "P00" not in text and "participant_id" not in text
    assert res.summary["participants"] == {"imr": 4, "cau": 2}


# --- BARG checklist ----------------------------------------------------------------------

def test_barg_status_follows_the_sections_that_ran():
    statuses = {sec.key: "unavailable" for sec in sections.SECTIONS}
    statuses.update(provenance="ok", fits="warning", forest="ok")
    table = barg.checklist(statuses).set_index("item")
    assert table.loc["2.A", "status"] == "covered"          # software: provenance
    assert table.loc["2.B", "status"] == "covered"          # convergence: fits (warning counts)
    assert table.loc["3.B", "status"] == "covered"          # fits + forest
    assert table.loc["3.A", "status"] == "not covered"      # PPC not in this build
    assert table.loc["1.E", "status"] == "not covered"      # no prior predictive check
    assert table.loc["2.D", "status"] == "not applicable"
    assert table.loc["P.A", "status"] == "documents only"
    assert table.loc["6.A", "status"] == "covered"
    statuses["fits"] = "failed"
    assert barg.checklist(statuses).set_index("item").loc["6.A", "status"] == "partly covered"
    assert len(table) == len({it.item for it in barg.ITEMS})


def test_table_html_formats_numbers_and_keeps_an_id():
    html = table_html(pd.DataFrame({"outcome": ["a", "b"], "x": [0.123456, 1.0],
                                    "y": [np.nan, 2.0],
                                    "t": pd.array([1, None], dtype="Int64")}), "tid")
    assert 'id="tid"' in html and "0.123" in html and "0.123456" not in html
    assert "nan" not in html.lower() and "&lt;NA&gt;" not in html


# --- Bayesian fits section: marking of failures, files, figures --------------------------

@dataclass
class _Diag:
    passed: bool
    problems: list[str]
    table: pd.DataFrame
    divergences: int = 0
    bfmi: list[float] = field(default_factory=lambda: [1.0, 1.0])

    def summary(self):
        t = self.table
        return {"passed": self.passed, "max_r_hat": float(t["r_hat"].max()),
                "min_ess_bulk": float(t["ess_bulk"].min()),
                "min_ess_tail": float(t["ess_tail"].min()), "divergences": self.divergences,
                "min_bfmi": min(self.bfmi)}


@dataclass
class _StandInFit:
    analysis: str
    outcome: str
    idata: object
    estimates: Estimates
    diagnostics: _Diag
    spec: object


def _stand_in_fit(data, *, outcome, analysis, seed, chains, draws, tune, prior_set="default"):
    """A fit-shaped object (real spec and Estimates, random draws), no sampling."""
    import arviz_base as azb

    if outcome == "asi":
        raise RuntimeError("initial evaluation of model at starting point failed")
    rng = np.random.default_rng(seed)
    terms = ["intercept", "time", "condition", "condition_x_time"]
    beta = rng.normal(size=(chains, draws, len(terms)))
    idata = azb.from_dict({
        "posterior": {"beta": beta, "beta_std": beta,
                      "sigma_residual": rng.gamma(5.0, size=(chains, draws))},
        "sample_stats": {"energy": rng.normal(size=(chains, draws)),
                         "diverging": np.zeros((chains, draws), dtype=bool)},
        "observed_data": {"y": rng.normal(size=(6, 3))},
    }, coords={"term": terms}, dims={"beta": ["term"], "beta_std": ["term"]})
    idata.attrs["spec_hash"] = "ab" * 32
    bad = outcome == "bsi"
    table = pd.DataFrame({"parameter": ["beta[condition_x_time]", "sigma_residual"],
                          "r_hat": [1.0, 1.08 if bad else 1.0], "ess_bulk": [900.0, 50.0],
                          "ess_tail": [800.0, 60.0], "mcse_mean": [0.01, 0.02]})
    std = beta[..., 3].ravel()
    scale = imr_bayes.outcomes.get(outcome).pooled_baseline_sd()
    est = Estimates.from_draws(
        {"analysis": analysis, "outcome": outcome},
        [({"estimand": "condition_x_time", "sign": 1}, std * scale),
         ({"estimand": "condition_x_time_d", "scale": "d", "sign": 1}, std)])
    diag = _Diag(passed=not bad, problems=["r_hat 1.08 > 1.01"] if bad else [], table=table)
    return _StandInFit(analysis, outcome, idata, est, diag, registry.get(analysis))


def test_fits_stage_and_section_mark_errors_and_failed_diagnostics(monkeypatch, tmp_path):
    monkeypatch.setitem(vars(imr_bayes), "fit", _stand_in_fit)
    events = []
    ctx = RunContext(settings=RunSettings(quick=True, outcomes=("imrs_client", "bsi", "asi"),
                                          analyses=("itt",)),
                     progress=events.append, _data=_toy_long())
    ctx.results["fits"] = stages.bayesian_fits(ctx)
    assert ctx.results["fits"].status == "warning"
    assert ctx.results["fits"].message.startswith(
        "1 of 3 fits raised an error; 1 of 3 fits failed their diagnostics")
    r = _result(ctx)
    assert set(r.fits) == {("itt", "imrs_client"), ("itt", "bsi")}
    res = sections.bayesian_fits(r)
    assert res.status == "warning"
    diag = res.tables["diagnostics"].set_index("outcome")
    assert diag.loc["imrs_client", "status"] == "passed"
    assert diag.loc["bsi", "status"] == "FAILED diagnostics"
    assert diag.loc["bsi", "r_hat_max"] == pytest.approx(1.08)
    assert diag.loc["asi", "status"].startswith("ERROR: RuntimeError: initial evaluation")
    provenance = sections.provenance(r).tables["provenance"].set_index("item")
    assert provenance.loc["spec SHA-256 (itt)", "value"] == "ab" * 32
    kinds = sorted(f.name for f in res.figures)
    assert kinds == sorted(f"itt__{o}__{k}" for o in ("imrs_client", "bsi")
                           for k in ("rank", "ess", "energy"))
    assert all("FAILED" in f.caption and "FAILED" in f.group
               for f in res.figures if "bsi" in f.name)
    assert len({f.group for f in res.figures}) == 2  # one folded group per fit
    assert sorted(res.files) == ["posteriors/itt__bsi.nc", "posteriors/itt__imrs_client.nc"]
    res.files["posteriors/itt__bsi.nc"](tmp_path / "x.nc")
    import xarray as xr

    with xr.open_datatree(tmp_path / "x.nc", engine="h5netcdf") as saved:
        # posterior and sample stats only: no participant-level observed data
        assert set(saved.children) == {"posterior", "sample_stats"}
        assert saved.attrs["spec_hash"] == "ab" * 32
    model_events = [e for e in events if e.scope == "models"]
    assert model_events[0].kind == "plan" and model_events[0].total == 3
    assert sum(e.kind == "advance" for e in model_events) == 3
    # the forest section draws what the fits produced, beside Table 2
    fres = sections.forest(r)
    assert fres.status == "ok"
    forest = fres.tables["forest_itt"]
    assert {"itt", "published"} == set(forest["source"])
    assert fres.csv_only == ("forest_itt",) and len(fres.figures) == 1


def test_diagnostic_variables_pick_fixed_effects_and_sds():
    import arviz_base as azb

    rng = np.random.default_rng(1)
    idata = azb.from_dict({"posterior": {n: rng.normal(size=(2, 20)) for n in
                                         ("beta_time", "sigma_group", "group_raw")}})
    assert sections.diagnostic_variables(idata) == ["beta_time", "sigma_group"]
    idata = azb.from_dict({"posterior": {n: rng.normal(size=(2, 20)) for n in
                                         ("beta", "beta_std", "sigma_residual")}})
    assert sections.diagnostic_variables(idata) == ["beta", "sigma_residual"]


def test_prior_sensitivity_refits_under_each_prior_set_with_its_own_bf(monkeypatch):
    from imr_bayes import spec
    from imr_bayes.reanalysis import FitRecord, Fits

    monkeypatch.setitem(vars(imr_bayes), "fit", _stand_in_fit)
    ctx = _ctx(_toy_long(), quick=True, outcomes=("imrs_client",))
    base = _stand_in_fit(None, outcome="imrs_client", analysis="itt", seed=1, chains=4,
                         draws=2000, tune=0)
    ctx.results["fits"] = StageResult(value=Fits((FitRecord("itt", "imrs_client", base),)))
    ctx.results["prior_sensitivity"] = stages.prior_sensitivity(ctx)
    res = sections.prior_sensitivity(_result(ctx))
    table = res.tables["prior_sets"].set_index("prior_set")
    assert set(table.index) == set(spec.prior_set_names())
    # Stand-in posterior of condition x time ~ N(0, 1): posterior density at 0 is 0.3989.
    # Default prior N(0, 0.5): density 0.7979 -> BF10 = 2.0; sceptical N(0, 0.1216): 8.2.
    assert table.loc["default", "bf10"] == pytest.approx(2.0, rel=0.15)
    assert table.loc["sceptical", "bf10"] == pytest.approx(3.2807 / 0.39894, rel=0.15)
    assert table.loc["default", "p_benefit"] == pytest.approx(0.5, abs=0.05)
    assert res.figures[0].png.startswith(PNG_MAGIC)


# --- on the default twin: data summary against Table 3's n, frequentist plumbing ---------

@pytest.fixture(scope="module")
def twin_ctx():
    ctx = _ctx()
    ctx.data  # noqa: B018 - load the default twin once
    return ctx


def test_twin_data_summary_matches_table3_n_per_arm_and_time(twin_ctx):
    from imr_bayes import published

    r = _result(twin_ctx, data=stages.data_summary(twin_ctx))
    counts = sections.data_summary(r).tables["counts_long"]
    table3 = published.marginal_means("itt")[["outcome", "arm", "time", "n"]]
    merged = counts.merge(table3, on=["outcome", "arm", "time"], validate="one_to_one")
    assert len(merged) == 12 * 2 * 3
    assert (merged["n_observed"] == merged["n"]).all()


def test_frequentist_section_sets_every_analysis_beside_the_paper(twin_ctx):
    stage = stages.frequentist(twin_ctx)
    res = sections.frequentist(_result(twin_ctx, frequentist=stage))
    assert res.status in ("ok", "warning")
    versus = res.tables["versus_published"]
    assert {"Table 2", "Table 3", "Table 6", "Table 7"} <= set(versus["table"])
    assert {"fidelity_imrs_client", "fidelity_sers_sf", "hospitalization_odds_ratio"} <= set(
        res.tables)
    for name, table in res.tables.items():
        assert "participant_id" not in table.columns, name
    results = stage.value.results
    assert set(results.replications) == {"itt", "completers"}
    assert set(results.fidelity) == {"imrs_client", "sers_sf"}


def test_comparison_shows_one_row_per_outcome_preferring_an_effect_without_time():
    rows = pd.DataFrame({
        "analysis": "itt",
        "outcome": ["bsi", "bsi", "imrs_client", "imrs_client", "hosp", "ses"],
        "estimand": ["difference", "condition_x_time", "condition_x_time", "difference",
                     "odds_ratio", "difference"],
        "time": pd.array([2, None, None, 1, None, 1], dtype="Int64"),
        "posterior_estimate": [1.0, 2.0, 3.0, 4.0, 5.0, 6.0],
    })
    head = sections._one_row_per_outcome(rows)
    assert head["outcome"].tolist() == ["bsi", "imrs_client", "hosp", "ses"]
    assert head["posterior_estimate"].tolist() == [2.0, 3.0, 5.0, 6.0]


def test_missing_data_section_tabulates_tipping_points_of_the_itt_fits():
    """A real (tiny) ITT fit: one tipping-point row, its sentence and the tipping-point plot."""
    from imr_bayes.data import default_twin
    from imr_bayes.reanalysis import FitRecord, Fits

    fit = imr_bayes.fit(default_twin(), outcome="sers_sf", analysis="itt",
                        draws=100, tune=100, chains=1, seed=3)
    ctx = _ctx(quick=True)
    ctx.results["fits"] = StageResult(value=Fits((FitRecord("itt", "sers_sf", fit),)))
    ctx.results["missing_data"] = stages.missing_data(ctx)
    res = sections.missing_data(_result(ctx))
    assert res.status == "ok"
    tips = res.tables["tipping_points"]
    assert tips["outcome"].tolist() == ["sers_sf"]
    assert "SERS-SF" in tips["sentence"].iloc[0] or "sers_sf" in tips["sentence"].iloc[0]
    adj = res.tables["delta_adjustment"]
    mar = adj[(adj["delta"] == 0) & (adj["estimand"] == "condition_x_time")].iloc[0]
    # delta = 0 is the MAR analysis: its P(benefit) is the fit's own (same draws)
    eff = fit.estimates.row("condition_x_time")
    assert mar["mar_p_benefit"] == pytest.approx(eff["p_benefit"], abs=1e-9)
    assert res.figures[0].png.startswith(PNG_MAGIC)


def test_missing_data_stage_without_itt_fits_is_unavailable():
    ctx = _ctx(quick=True)
    assert stages.missing_data(ctx).status == "unavailable"
    assert sections.missing_data(_result(ctx)).status == "unavailable"  # not run


# --- the verdict first, data-source tags, twin sentences that never read like findings ----

def test_sections_open_with_the_verdict_and_close_with_provenance():
    keys = [s.key for s in sections.SECTIONS]
    assert keys[:2] == ["verdict", "audit_findings"]
    assert keys[-1] == "provenance" and keys[-2] == "barg"
    sources = [s.source for s in sections.SECTIONS]
    assert sources[:2] == ["published", "published"]
    # the Bayesian counterparts on the data come right after the verdict and its audit
    first_data = sources.index("data")
    assert first_data == 2
    assert set(sources[first_data:sources.index("published", first_data)]) == {"data"}


def test_source_tags_and_the_phrase_that_opens_data_sentences(tmp_path):
    by_key = {s.key: s for s in sections.SECTIONS}
    twin, user = RunSettings(), RunSettings(data_path=tmp_path / "trial.csv")
    assert sections.source_tag(by_key["verdict"], twin) == "published numbers"
    assert sections.source_tag(by_key["verdict"], user) == "published numbers"
    assert sections.source_tag(by_key["fits"], twin) == (
        "SYNTHETIC twin — illustrates the method, not evidence about the trial")
    assert sections.source_tag(by_key["fits"], user) == "your data: trial.csv"
    assert sections.source_tag(by_key["provenance"], twin).startswith("this run")
    assert sections.on_data(twin) == "On the synthetic twin (not trial data)"
    assert sections.on_data(user) == "On your data (trial.csv)"


@pytest.fixture(scope="module")
def verdict_result():
    ctx = _ctx()
    for key in ("audit", "summary_level", "verdict"):
        ctx.results[key] = getattr(stages, key)(ctx)
    return _result(ctx)


def test_verdict_section_lists_the_12_outcomes_beside_a_forest_plot(verdict_result):
    res = sections.verdict(verdict_result)
    assert res.status == "ok"
    assert len(res.items) == 12 and res.items[0].startswith("IMRS client: ")
    shown = res.tables["verdict"]
    assert len(shown) == 12 and "sentence" not in shown.columns
    assert res.tables["verdict_all_columns"]["sentence"].tolist() == res.items
    assert res.csv_only == ("verdict_all_columns",)
    assert [f.name for f in res.figures] == ["forest"]
    assert res.figures[0].png.startswith(PNG_MAGIC)
    assert len(res.summary["outcomes"]) == 12
    assert res.summary["rules"] == {"prior": "sceptical", "strong_p": 0.975,
                                    "moderate_p": 0.9, "weak_p": 0.75, "likely_p": 0.75,
                                    "unlikely_p": 0.25, "important_d": 0.2}
    # the forest plot: published estimate and CI per outcome, on the 18-month d scale
    data = sections.verdict_forest_data(res.tables["verdict_all_columns"])
    pub = data[data["source"] == "published"].set_index("outcome")
    assert pub.loc["imrs_client", "label"] == "IMRS client (T2)"
    assert pub.loc["bsi", "label"] == "BSI (T3)"
    assert pub.loc["imrs_client", "estimate"] == pytest.approx(0.28)


def test_audit_findings_section_says_how_each_flag_changes_the_reading(verdict_result):
    res = sections.audit_findings(verdict_result)
    assert res.status == "ok"
    assert len(res.items) == 2
    assert all(s.startswith("IMRS clinician (Table 2, IMRS clinician version, Condition × "
                            "time): the audit flags") for s in res.items)
    assert res.summary["n_findings"] == 2 and res.summary["n_changing"] == 2
    assert "2 of the 42 flags" in res.text[0]


def test_verdict_sections_without_the_stage_are_unavailable():
    r = _result(_ctx())
    assert sections.verdict(r).status == "unavailable"
    assert sections.audit_findings(r).status == "unavailable"


def test_a_verdict_without_the_audit_is_shown_with_a_warning():
    ctx = _ctx()
    ctx.results["summary_level"] = stages.summary_level(ctx)
    ctx.results["verdict"] = stages.verdict(ctx)
    r = _result(ctx)
    assert sections.verdict(r).status == "warning" and len(sections.verdict(r).items) == 12
    found = sections.audit_findings(r)
    assert found.status == "warning" and found.message.startswith("the audit did not run")


@pytest.fixture(scope="module")
def twin_run():
    """A small real run of every stage that renders the data (prior sets by stand-in refits)."""
    from imr_bayes import reanalysis

    settings = RunSettings(quick=True, outcomes=("imrs_client",), analyses=("itt",),
                           draws=100, tune=100, chains=2)
    keys = ("data", "frequentist", "fits", "ppc", "missing_data", "comparison", "verdict",
            "power_scaling", "prior_predictive")
    run = reanalysis.run(settings, stages=keys, options={"pooling": False})
    ctx = _ctx(**vars(settings))
    ctx.results.update(run.stages)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(vars(imr_bayes), "fit", _stand_in_fit)
        ctx.results["prior_sensitivity"] = stages.prior_sensitivity(ctx)
    return _result(ctx)


def _data_views(r):
    from imr_bayes.report.html import rendered

    return [(sec, view) for sec, view in rendered(r) if sec.source == "data"]


def test_every_sentence_on_the_twin_names_the_twin(twin_run):
    views = _data_views(twin_run)
    assert {sec.key for sec, _ in views} == {
        "data", "frequentist", "fits", "forest", "sensitivity", "ppc", "missing_data",
        "comparison", "power_scaling", "prior_predictive", "cace_sensitivity"}
    opening = "On the synthetic twin (not trial data)"
    for sec, view in views:
        assert view.status != "failed", (sec.key, view.message)
        for paragraph in [*view.text, *view.items]:
            assert paragraph.startswith(opening), (sec.key, paragraph)
        for fig in view.figures:
            assert "synthetic twin" in fig.caption and "not evidence about the trial" in (
                fig.caption), (sec.key, fig.caption)
    missing = dict(views)[next(s for s, _ in views if s.key == "missing_data")]
    tipping = missing.tables["tipping_points"]
    assert tipping["sentence"].str.startswith(f"{opening}, IMRS client: ").all()
    assert all(t["sentence"].startswith(opening)
               for t in missing.summary["tipping_points"])


def test_on_the_users_data_sentences_name_the_file_and_never_the_twin(twin_run, tmp_path):
    import dataclasses

    data = tmp_path / "leiden_trial.csv"
    data.write_text("x\n")
    settings = dataclasses.replace(twin_run.settings, data_path=data)
    user_run = dataclasses.replace(twin_run, settings=settings)
    for sec, view in _data_views(user_run):
        for paragraph in view.text:
            assert paragraph.startswith("On your data (leiden_trial.csv)"), (sec.key,
                                                                               paragraph)
            assert "twin" not in paragraph.lower(), (sec.key, paragraph)
        for fig in view.figures:
            assert fig.caption.endswith("Data: leiden_trial.csv."), (sec.key, fig.caption)
