"""The sections of the report: each renders part of a :class:`Reanalysis` (never computes).

Every function here has the signature ``(reanalysis) -> SectionView`` and is registered in
:data:`SECTIONS`. They read the typed results of the run's stages
(:mod:`imr_bayes.stages`), turn them into tables, figures and sentences, and never fit,
refit or sample. Participant rows never reach a section: only counts, summaries and fits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from imr_bayes import outcomes as outcome_registry
from imr_bayes import verdict as rules
from imr_bayes.provenance import file_sha256, package_versions

if TYPE_CHECKING:
    from imr_bayes.reanalysis import Reanalysis, RunSettings


@dataclass(frozen=True)
class Figure:
    """A rendered figure: PNG bytes, the caption shown under it, and an optional group.

    Consecutive figures of one non-empty ``group`` are folded together in the page under the
    group's title (e.g. the diagnostic plots of one fit).
    """

    name: str
    caption: str
    png: bytes
    group: str = ""


@dataclass
class SectionView:
    """What one section shows.

    Attributes
    ----------
    status : {"ok", "warning", "failed", "unavailable"}
        The status of the stage it renders (``ok`` for sections of published numbers).
    message : str
        One line explaining a status other than ``ok``.
    tables : dict of str to DataFrame
        Tables shown and written as CSV, keyed by a file-safe name.
    figures : list of Figure
    text : list of str
        Short paragraphs shown above the tables.
    items : list of str
        Sentences shown as a numbered list beside the section's figures (e.g. one per
        outcome), above the tables.
    summary : dict
        Machine-readable key results copied into ``summary.json``.
    files : dict of str to callable
        Extra outputs: relative path -> function writing that file (e.g. netCDF posteriors).
    csv_only : tuple of str
        Names of ``tables`` written as CSV and linked but not shown (numbers behind figures).
    """

    status: str = "ok"
    message: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)
    text: list[str] = field(default_factory=list)
    items: list[str] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    files: dict[str, Callable[[Path], None]] = field(default_factory=dict)
    csv_only: tuple[str, ...] = ()


@dataclass(frozen=True)
class Section:
    """One entry of the section registry.

    Attributes
    ----------
    key : str
        Anchor, file-name prefix and ``summary.json`` key.
    title : str
        Heading in the report.
    render : str
        ``"module:function"`` of ``(reanalysis) -> SectionView``.
    stage : str or None
        The stage whose result it shows (its status is the section's); None for sections
        of the published numbers and of the run's metadata.
    source : {"published", "data", "run"}
        What the numbers come from: the paper's printed numbers, the data the run used
        (synthetic twin or the user's file), or the run itself.
    """

    key: str
    title: str
    render: str
    stage: str | None = None
    source: Literal["published", "data", "run"] = "data"


_M = "imr_bayes.report.sections"
#: The report's sections, in page order: the verdict on the trial from its published numbers
#: and the audit findings that change it; the Bayesian counterparts on the data the run used;
#: the published numbers in detail; the run's checklist and provenance.
SECTIONS: tuple[Section, ...] = (
    Section("verdict", "Verdict on the IMR trial from its published numbers",
            f"{_M}:verdict", "verdict", "published"),
    Section("audit_findings", "Audit findings that change a reading of the verdict",
            f"{_M}:audit_findings", "verdict", "published"),
    Section("data", "Data summary", f"{_M}:data_summary", "data"),
    Section("frequentist", "Frequentist replication", f"{_M}:frequentist", "frequentist"),
    Section("fits", "Bayesian fits and diagnostics", f"{_M}:bayesian_fits", "fits"),
    Section("forest", "Posterior intervals beside the published CIs", f"{_M}:forest", "fits"),
    Section("sensitivity", "Prior sensitivity of the Bayesian fits",
            f"{_M}:prior_sensitivity", "prior_sensitivity"),
    Section("prior_predictive", "Prior predictive checks", f"{_M}:prior_predictive",
            "prior_predictive"),
    Section("power_scaling", "Power-scaling prior and likelihood sensitivity",
            f"{_M}:power_scaling", "power_scaling"),
    Section("ppc", "Posterior predictive checks: published statistics and statistics the "
            "model is not fitted to", f"{_M}:ppc", "ppc"),
    Section("missing_data", "Missing-data sensitivity: delta adjustment and tipping points",
            f"{_M}:missing_data", "missing_data"),
    Section("cace_sensitivity", "CACE without the exclusion restriction: never-taker effects",
            f"{_M}:cace_sensitivity", "cace_sensitivity"),
    Section("comparison", "Posterior versus frequentist versus published",
            f"{_M}:comparison", "comparison"),
    Section("summary_level", "Summary-level reanalysis of the published numbers",
            f"{_M}:summary_level", "summary_level", "published"),
    Section("multiplicity", "Multiplicity: partial pooling across outcomes versus BH",
            f"{_M}:multiplicity", "multiplicity", "published"),
    Section("published", "Published results", f"{_M}:published_tables", None, "published"),
    Section("audit", "Audit of the published tables", f"{_M}:audit", "audit", "published"),
    Section("barg", "Bayesian Analysis Reporting Guidelines (Kruschke 2021) checklist",
            f"{_M}:barg_checklist", None, "run"),
    Section("provenance", "Provenance and versions", f"{_M}:provenance", None, "run"),
)

#: The data-source tag of a section, by source (``data`` by the run's data source).
SOURCE_TAGS: dict[str, str] = {
    "published": "published numbers",
    "twin": "SYNTHETIC twin — illustrates the method, not evidence about the trial",
    "user": "your data: {file}",
    "run": "this run: settings, software and checklist",
}


def source_kind(section: Section, settings: RunSettings) -> str:
    """Return the key of :data:`SOURCE_TAGS` for a section: published, twin, user or run."""
    if section.source == "data":
        return settings.data_source
    return section.source


def source_tag(section: Section, settings: RunSettings) -> str:
    """Return the data-source tag shown with a section and written to ``summary.json``."""
    kind = source_kind(section, settings)
    file = Path(settings.data_path).name if settings.data_path is not None else ""
    return SOURCE_TAGS[kind].format(file=file)


def on_data(settings: RunSettings) -> str:
    """Return the phrase that opens every sentence about the run's data.

    Sentences computed on the twin must never read like findings about the trial, so each
    names its data: ``"On the synthetic twin (not trial data)"`` or ``"On your data
    (<file>)"``.
    """
    if settings.data_path is None:
        return "On the synthetic twin (not trial data)"
    return f"On your data ({Path(settings.data_path).name})"


def _data_note(r: Reanalysis) -> str:
    """Return the caption ending that names the data behind a figure."""
    if r.settings.data_path is None:
        return " Data: the synthetic twin (illustrates the method, not evidence about the trial)."
    return f" Data: {Path(r.settings.data_path).name}."


def _png(name: str, caption: str, fig, group: str = "") -> Figure:
    from imr_bayes.report.figures import to_png

    return Figure(name=name, caption=caption, png=to_png(fig), group=group)


def _label(code: str) -> str:
    """Abbreviation of an outcome code, or the code itself for non-registry outcomes."""
    o = outcome_registry.OUTCOMES.get(code)
    return o.abbreviation if o is not None else code


def _missing(r: Reanalysis, key: str) -> SectionView | None:
    """Return a view for a stage that did not produce a value, or None if it did."""
    res = r.stages.get(key)
    if res is None:
        return SectionView(status="unavailable", message="not run")
    if res.value is None:
        return SectionView(status=res.status, message=res.message)
    return None


def _status(r: Reanalysis, key: str) -> dict[str, str]:
    res = r.stages[key]
    return {"status": res.status, "message": res.message}


# ------------------------------------------------------------------------------ the verdict
#: Columns of the verdict table shown in the page (the CSV ``verdict_all_columns`` has all;
#: the sentences are listed above the table).
VERDICT_SHOWN: tuple[str, ...] = tuple(
    c for c in rules.TABLE_COLUMNS if c not in (
        "outcome", "estimand", "estimate", "ci_low", "ci_high", "p_published", "d_posterior",
        "d_posterior_low", "d_posterior_high", "sentence"))


def verdict_forest_data(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of :func:`imr_bayes.report.figures.plot_forest` for the verdict's forest plot.

    Per outcome the published estimate and 95 % CI (``published``) and the posterior mean
    and 95 % ETI under the sentence prior, as standardized 18-month effects d (positive
    favours IMR); labels name the table read (T2: Table 2's interaction, T3: Table 3's
    18-month difference).
    """
    tag = table["estimand"].map({"condition_x_time": "T2", "mean_difference": "T3"})
    labels = table["label"] + " (" + tag + ")"
    published = pd.DataFrame({"outcome": table["outcome"], "label": labels,
                              "source": "published", "estimate": table["d"],
                              "low": table["d_low"], "high": table["d_high"]})
    posterior = pd.DataFrame({"outcome": table["outcome"], "label": labels,
                              "source": f"{rules.SENTENCE_PRIOR} posterior",
                              "estimate": table["d_posterior"],
                              "low": table["d_posterior_low"],
                              "high": table["d_posterior_high"]})
    return pd.concat([published, posterior], ignore_index=True)


def verdict(r: Reanalysis) -> SectionView:
    """Render the verdict on the trial: a sentence per outcome, the numbers, a forest plot."""
    from imr_bayes.report.figures import plot_forest

    if (v := _missing(r, "verdict")) is not None:
        return v
    table = r.value("verdict").table
    d = f"{rules.IMPORTANT_D:g}"
    fig = plot_forest(verdict_forest_data(table), title="Published effects at 18 months",
                      xlabel="standardized effect d at 18 months (positive favours IMR)",
                      marks=(-rules.IMPORTANT_D, rules.IMPORTANT_D))
    return SectionView(
        **_status(r, "verdict"),
        text=[
            "What the paper's own numbers say about IMR, outcome by outcome: its ITT "
            "estimate (Table 2's condition x time where the final model kept it, else Table "
            "3's 18-month IMR - CAU difference) under three priors of the summary-level "
            "reanalysis: reference (flat), sceptical (centred on 0, 5 % beyond the planned "
            "d = 0.40), enthusiastic (centred on d = 0.40, 5 % at or below 0). d: the "
            "18-month effect over the pooled Table 1 baseline SD, positive favours IMR.",
            f"Sentence rules, under the {rules.SENTENCE_PRIOR} prior: strong, moderate or "
            f"weak evidence of a benefit when P(benefit) >= {rules.STRONG_P:g}, "
            f"{rules.MODERATE_P:g} or {rules.WEAK_P:g} (of harm when P(benefit) <= "
            f"{1 - rules.STRONG_P:g}, {1 - rules.MODERATE_P:g} or {1 - rules.WEAK_P:g}), "
            f"no clear direction in between; the size is probably beyond d = {d} when "
            f"P(|d| > {d}) >= {rules.LIKELY_P:g}, probably smaller when it is <= "
            f"{rules.UNLIKELY_P:g}, uncertain in between (docs/report.md).",
        ],
        items=table["sentence"].tolist(),
        figures=[_png("forest", "Published estimate and 95 % CI (squares) and the "
                      f"{rules.SENTENCE_PRIOR}-prior posterior mean and 95 % ETI (circles) "
                      "of each outcome's effect at 18 months, standardized, positive favours "
                      f"IMR; dotted lines at d = +/-{d}. T2: Table 2 condition x time "
                      "(x 2 time steps); T3: Table 3 18-month difference.", fig)],
        tables={"verdict": table[list(VERDICT_SHOWN)], "verdict_all_columns": table},
        csv_only=("verdict_all_columns",),
        summary={"outcomes": table[["outcome", "published_row", "printed",
                                    *(c for c in table.columns if c.startswith("p_") and
                                      c != "p_published"),
                                    "reading", "audit_flags", "sentence"]].to_dict("records"),
                 "rules": {"prior": rules.SENTENCE_PRIOR, "strong_p": rules.STRONG_P,
                           "moderate_p": rules.MODERATE_P, "weak_p": rules.WEAK_P,
                           "likely_p": rules.LIKELY_P, "unlikely_p": rules.UNLIKELY_P,
                           "important_d": rules.IMPORTANT_D}})


def audit_findings(r: Reanalysis) -> SectionView:
    """Render the audit flags on numbers the verdict reads and how each changes its reading."""
    if (v := _missing(r, "verdict")) is not None:
        return v
    if r.value("audit") is None:  # the verdict stage's status and message say so
        return SectionView(**_status(r, "verdict"))
    found = r.value("verdict").findings
    n_audit = len(r.value("audit"))
    if found.empty:
        return SectionView(**_status(r, "verdict"), text=[
            f"None of the {n_audit} audit flags concerns a number the verdict reads."],
            summary={"n_findings": 0, "n_changing": 0})
    changing = int(found["changes_reading"].sum())
    outcomes = ", ".join(dict.fromkeys(found["label"]))
    return SectionView(
        **_status(r, "verdict"),
        text=[f"{len(found)} of the {n_audit} flags of the audit of the published tables "
              f"concern a number the verdict reads ({outcomes}); {changing} of them change "
              "its reading. Each flagged number is read again with the number the flag "
              "suggests (the CI midpoint as the estimate, the SE from the printed p, the "
              "difference of the arm means, or the CI half-width from the arm CIs); which "
              "printed number is wrong cannot be told from the paper."],
        items=found["sentence"].tolist(),
        tables={"findings": found.drop(columns=["sentence"])},
        summary={"n_findings": len(found), "n_changing": changing,
                 "findings": found[["outcome", "check", "changes_reading",
                                    "sentence"]].to_dict("records")})


# --------------------------------------------------------------------------- run metadata
def provenance(r: Reanalysis) -> SectionView:
    """Render data source with its SHA-256, spec hashes, seed, sampler and versions."""
    settings = r.settings
    rows: list[dict[str, str]] = []
    if settings.data_path is not None:
        rows.append({"item": "data source", "value": f"user file {settings.data_path.name}"})
        rows.append({"item": "data file SHA-256", "value": file_sha256(settings.data_path)})
    else:
        rows.append({"item": "data source",
                     "value": "synthetic twin (imr_bayes.data.default_twin)"})
    rows.append({"item": "data content SHA-256", "value": r.data_hash})
    rows.append({"item": "seed", "value": str(settings.seed)})
    s = settings.sampling
    rows.append({"item": "sampler",
                 "value": f"{s['chains']} chains x {s['draws']} draws (+{s['tune']} tuning)"
                          + (" [--quick]" if settings.quick else "")})
    rows.append({"item": "outcomes", "value": ", ".join(settings.outcomes)})
    hashes = {a: str(f.idata.attrs.get("spec_hash", "")) for (a, _), f in r.fits.items()}
    for label, digest in sorted(hashes.items()):
        rows.append({"item": f"spec SHA-256 ({label})", "value": digest})
    versions = package_versions()
    table = pd.DataFrame(rows)
    return SectionView(
        tables={"provenance": table,
                "versions": pd.DataFrame({"package": list(versions),
                                          "version": list(versions.values())})},
        summary={"items": {x["item"]: x["value"] for x in rows}, "versions": versions})


def barg_checklist(r: Reanalysis) -> SectionView:
    """Render the Kruschke (2021) BARG items, each with the report section that covers it."""
    from imr_bayes.report.barg import checklist

    statuses = {}
    for sec in SECTIONS:
        if sec.stage is not None and sec.stage in r.stages:
            statuses[sec.key] = r.stages[sec.stage].status
        elif sec.stage is None:
            statuses[sec.key] = "ok"
    table = checklist(statuses)
    covered = int((table["status"] == "covered").sum())
    return SectionView(tables={"barg": table},
                       text=[f"{covered} of {len(table)} items covered by this report."],
                       summary={"covered": covered, "items": len(table)})


# ------------------------------------------------------------------------ published numbers
def published_tables(r: Reanalysis) -> SectionView:
    """Render the published fixed effects and marginal means (Tables 2, 3, 6, 7)."""
    from imr_bayes import published

    tables = {}
    for sample in ("itt", "completers"):
        tables[f"fixed_effects_{sample}"] = published.fixed_effects(sample)
        tables[f"marginal_means_{sample}"] = published.marginal_means(sample)
    itt = tables["fixed_effects_itt"]
    cxt = itt[itt["term"] == "condition_x_time"]
    return SectionView(
        tables=tables,
        text=[f"Condition x time effects in the paper's final ITT models: "
              f"{int(cxt['in_final_model'].sum())} of {len(cxt)} outcomes."])


def audit(r: Reanalysis) -> SectionView:
    """Render the internal-consistency audit of the published tables."""
    if (v := _missing(r, "audit")) is not None:
        return v
    flags = r.value("audit")
    return SectionView(**_status(r, "audit"), tables={"audit": flags},
                       text=[f"{len(flags)} cell(s) flagged by the consistency checks."],
                       summary={"n_flags": len(flags)})


def summary_level(r: Reanalysis) -> SectionView:
    """Every printed estimate under the prior grid; heat maps of P(benefit)."""
    import numpy as np

    from imr_bayes import summary_level as sl

    if (v := _missing(r, "summary_level")) is not None:
        return v
    full = r.value("summary_level")
    keys = ["source", "sample", "outcome", "estimand", "term", "estimate", "ci_low", "ci_high",
            "p_published"]
    main = full[full["estimand"].isin(["condition_x_time", "odds_ratio"])]
    wide = main.pivot_table(index=keys[:5], columns="prior", values="p_benefit", sort=False,
                            dropna=False)
    wide.columns = [f"p_benefit_{c}" for c in wide.columns]
    wide = wide.reset_index()
    ref = main[main["prior"] == "reference"].set_index(keys[:5])[
        ["estimate", "ci_low", "ci_high", "p_published", "p_clinically_important", "agreement"]
    ].rename(columns={"p_clinically_important": "p_clin_important_reference",
                      "agreement": "agreement_reference"})
    table = wide.merge(ref.reset_index(), on=keys[:5]).drop(columns=["source", "estimand"])
    figures = []
    first = main[(main["estimand"] == "condition_x_time") & (main["sample"] == "itt")
                 & (main["outcome"] == outcome_registry.PRIMARY)]
    odds = main[main["estimand"] == "odds_ratio"]
    for label, sub in (("primary", first), ("hospitalization_or", odds)):
        if sub.empty:
            continue
        est = sub.iloc[0]
        delta = float(est["prior_unit"])  # the planned effect, or the generic unit (OR)
        means = np.linspace(-2 * delta, 2 * delta, 41)
        sds = np.geomspace(delta / 4, 4 * delta, 30)
        what = ("hospitalization odds ratio (log scale)" if est["ratio"]
                else f"{_label(est['outcome'])} condition x time, ITT")
        fig = sl.plot_sensitivity(
            float(est["estimate"]), float(est["ci_low"]), float(est["ci_high"]),
            prior_means=means, prior_sds=sds, ratio=bool(est["ratio"]),
            benefit=est["benefit"], title=f"P(benefit): {what}")
        figures.append(_png(
            f"sensitivity_{label}",
            f"Prior sensitivity of P(benefit) for the {what}: normal priors over a grid of "
            f"means (x) and SDs (y, planned effect {delta:.3g} on this scale); contours at "
            "0.5, 0.9 and 0.975.", fig))
    summary = {}
    ref_primary = first[first["prior"] == "reference"]
    ref_or = odds[odds["prior"] == "reference"]
    if not ref_primary.empty:
        summary["primary_itt_p_gt_0_reference"] = float(ref_primary["p_gt_0"].iloc[0])
    if not ref_or.empty:
        summary["hospitalization_p_or_lt_1_reference"] = float(1 - ref_or["p_gt_0"].iloc[0])
    return SectionView(
        **_status(r, "summary_level"),
        tables={"p_benefit_by_prior": table, "all_estimates": full}, figures=figures,
        text=[f"{full[keys[:5]].drop_duplicates().shape[0]} printed estimates x "
              f"{full['prior'].nunique()} priors ({', '.join(dict.fromkeys(full['prior']))}); "
              "normal likelihood from each estimate and its 95 % CI (log scale for the odds "
              "ratio). The table shows the condition x time effects and the hospitalization "
              "odds ratio; all estimates are in the CSV."],
        summary=summary)


def multiplicity(r: Reanalysis) -> SectionView:
    """Partial pooling of the published effects beside Benjamini-Hochberg."""
    from imr_bayes.report.figures import plot_forest

    if (v := _missing(r, "multiplicity")) is not None:
        return v
    m = r.value("multiplicity")
    tables, figures = {}, []
    for name, result in m.pooled.items():
        tables[f"{name}_pooled"] = result.table
        tables[f"{name}_hyper"] = result.hyper
        if name in m.versus_bh:
            tables[f"{name}_versus_bh"] = m.versus_bh[name]
        figures.append(_png(
            f"pooling_{name}",
            f"Partial pooling across outcomes ({name.replace('_', ' ')}): unpooled estimate "
            "+/- 1.96 SE beside the partially pooled posterior 95 % ETI, standardized, "
            "positive favours IMR.",
            plot_forest(_pooling_plot_data(result.table), title=name.replace("_", " "))))
    return SectionView(
        **_status(r, "multiplicity"), tables=tables, figures=figures,
        text=["Hierarchical model of the standardized effects across outcomes (Gelman, Hill & "
              "Yajima 2012): theta_k ~ N(mu, tau); see docs/multiplicity.md. The BH tables set "
              "the pooled conclusion beside the Benjamini-Hochberg-adjusted frequentist one."])


def _pooling_plot_data(table: pd.DataFrame) -> pd.DataFrame:
    """Unpooled (estimate +/- 1.96 SE) and pooled (posterior 95 % ETI) rows for plot_forest."""
    from scipy import stats

    from imr_bayes.constants import CI_LEVEL

    z = float(stats.norm.ppf(0.5 + CI_LEVEL / 2))
    labels = [_label(o) for o in table["outcome"]]
    unpooled = pd.DataFrame({
        "outcome": table["outcome"], "label": labels, "source": "unpooled",
        "estimate": table["benefit_d"], "low": table["benefit_d"] - z * table["se_d"],
        "high": table["benefit_d"] + z * table["se_d"]})
    pooled = pd.DataFrame({
        "outcome": table["outcome"], "label": labels, "source": "partially pooled",
        "estimate": table["post_mean"], "low": table["eti95_low"],
        "high": table["eti95_high"]})
    return pd.concat([unpooled, pooled], ignore_index=True)


# ------------------------------------------------------------------------------ the data
def data_summary(r: Reanalysis) -> SectionView:
    """Observations per arm x time and missingness per outcome (counts only)."""
    from imr_bayes.constants import ARMS

    if (v := _missing(r, "data")) is not None:
        return v
    d = r.value("data")
    table = d["counts"]
    text = [f"{on_data(r.settings)}: participants "
            + ", ".join(f"{arm.upper()} {d['participants'][arm]}" for arm in ARMS)
            + f" (rows: {d['rows']}, one per participant and measurement)."]
    tables = {}
    if len(table):
        wide = table.pivot_table(index="outcome", columns=["arm", "time"],
                                 values="n_observed", sort=False)
        wide.columns = [f"{arm}_t{t}" for arm, t in wide.columns]
        missing = (table.groupby("outcome", sort=False)
                   .apply(lambda g: round(100 * (1 - g["n_observed"].sum()
                                                 / g["n_rows"].sum()), 1),
                          include_groups=False)
                   .rename("pct_missing_overall").reset_index())
        tables = {"observed_counts": wide.reset_index().merge(missing, on="outcome"),
                  "counts_long": table}
    return SectionView(tables=tables, text=text,
                       summary={"participants": d["participants"], "rows": d["rows"]})


def frequentist(r: Reanalysis) -> SectionView:
    """Render the frequentist replication beside the paper."""
    if (v := _missing(r, "frequentist")) is not None:
        return v
    f = r.value("frequentist")
    res = f.results
    tables: dict[str, pd.DataFrame] = {}
    for sample, rep in res.replications.items():
        tables[f"fixed_effects_{sample}"] = rep.fixed_effects
        tables[f"marginal_means_{sample}"] = rep.marginal_means
        if len(rep.multiplicity):
            tables[f"benjamini_hochberg_{sample}"] = rep.multiplicity
    for outcome, fid in res.fidelity.items():
        tables[f"fidelity_{outcome}"] = fid.coefficients
    if res.hospitalization is not None:
        tables["hospitalization_odds_ratio"] = res.hospitalization.odds_ratio
        tables["length_of_stay"] = res.hospitalization.length_of_stay
    tables["versus_published"] = f.versus
    return SectionView(
        **_status(r, "frequentist"), tables=tables,
        text=[f"{on_data(r.settings)}, linear mixed models as in the paper (random "
              "participant intercept; final models by stepwise AIC on these data; REML "
              "estimates with model-based SEs and Satterthwaite df as SPSS prints them). "
              "Versus published: each reproduced number beside the printed one."],
        summary={"n_participants": {s: int(rep.n_participants)
                                    for s, rep in res.replications.items()}})


def diagnostic_variables(idata) -> list[str]:
    """Return the posterior variables shown in diagnostic figures (fixed effects and SDs).

    Standardized copies (``*_std``) are left out: they are deterministic rescalings with the
    same ranks and ESS as their originals.
    """
    names = list(idata["posterior"].data_vars)
    chosen = [v for v in names if v.startswith(("beta", "sigma")) and not v.endswith("_std")]
    return chosen or names[:4]


#: Groups of a fit written to ``posteriors/*.nc``. Observed and constant data and the
#: pointwise log-likelihood are participant-level and stay out of the report folder.
POSTERIOR_GROUPS: tuple[str, ...] = ("posterior", "sample_stats")


def posterior_writer(idata):
    """Return a function writing the fit's :data:`POSTERIOR_GROUPS` (with attrs) as netCDF."""
    import xarray as xr

    from imr_bayes.atomic import atomic_path

    groups = {g: idata[g].to_dataset() for g in POSTERIOR_GROUPS if g in idata.children}
    tree = xr.DataTree.from_dict(groups)
    tree.attrs = dict(idata.attrs)

    def write(path) -> None:
        with atomic_path(path) as tmp:
            tree.to_netcdf(tmp, engine="h5netcdf")

    return write


def bayesian_fits(r: Reanalysis) -> SectionView:
    """Diagnostics of every fit; ArviZ figures for the primary outcome and failed fits."""
    from imr_bayes.report.figures import diagnostic_figures

    if (v := _missing(r, "fits")) is not None:
        return v
    fits = r.value("fits")
    table = fits.diagnostics()
    params, figures, files = [], [], {}
    for rec in fits.records:
        if rec.fit is None:
            continue
        fit = rec.fit
        p = fit.diagnostics.table.copy()
        if "parameter" not in p.columns:
            p = p.rename_axis("parameter").reset_index()
        p.insert(0, "outcome", rec.outcome)
        p.insert(0, "analysis", rec.analysis)
        params.append(p)
        files[f"posteriors/{rec.analysis}__{rec.outcome}.nc"] = posterior_writer(fit.idata)
        if fit.diagnostics.passed and rec.outcome != outcome_registry.PRIMARY and \
                rec.outcome in outcome_registry.CODES:
            continue  # figures: the primary outcome, single models and every failed fit
        label = f"{rec.analysis}, {_label(rec.outcome)}"
        status = "passed" if fit.diagnostics.passed else "FAILED its diagnostics"
        for kind, fig in diagnostic_figures(fit.idata, diagnostic_variables(fit.idata)).items():
            figures.append(_png(
                f"{rec.analysis}__{rec.outcome}__{kind}",
                f"{kind.upper() if kind == 'ess' else kind.capitalize()} plot: {label} "
                f"(fit {status}).{_data_note(r)}", fig,
                group=f"ArviZ diagnostic plots: {label} (fit {status})"))
    tables = {"diagnostics": table}
    if params:
        tables["parameters"] = pd.concat(params, ignore_index=True)
    estimates = [rec.fit.estimates.table for rec in fits.records if rec.fit is not None]
    if estimates:
        tables["estimates"] = pd.concat(estimates, ignore_index=True)
    s = r.settings.sampling
    n_fit = sum(rec.fit is not None for rec in fits.records)
    n_bad = int((table["status"] == "FAILED diagnostics").sum()) if len(table) else 0
    n_err = int(table["status"].str.startswith("ERROR").sum()) if len(table) else 0
    return SectionView(
        **_status(r, "fits"), tables=tables, figures=figures, files=files,
        text=[f"{on_data(r.settings)}, {n_fit} fits: {s['chains']} chains x {s['draws']} "
              f"draws after {s['tune']} tuning steps, seed {r.settings.seed}. Thresholds "
              "come from each analysis spec (models/analyses). ArviZ rank, ESS and energy "
              "plots are drawn for the primary outcome, the single-model analyses and every "
              "fit that failed its diagnostics; the tables cover every fit and parameter."],
        summary={"fits": table.to_dict(orient="records"), "n_fits": len(table),
                 "n_errors": n_err, "n_failed_diagnostics": n_bad})


def _headline(fit):
    """Return the first treatment estimand of a fit's spec without a time, on the outcome scale."""
    for e in getattr(fit.spec, "estimands", ()):
        if e.treatment and e.times is None and e.scale == "raw":
            return e
    return None


def forest(r: Reanalysis) -> SectionView:
    """Posterior 95 % ETIs beside the published 95 % CIs of each analysis' headline effect.

    Per analysis: its first treatment estimand without a time (condition x time, the CACE,
    a fidelity subgroup x 12 months, ...) for every outcome it was fitted to, beside the
    printed counterpart that the spec names (where the paper's final model kept it).
    """
    from imr_bayes.counterparts import published_estimates
    from imr_bayes.report.figures import forest_data, plot_forest

    if (v := _missing(r, "fits")) is not None:
        return v
    by_analysis: dict[str, list] = {}
    for (analysis, outcome), fit in r.fits.items():
        if outcome in outcome_registry.OUTCOMES and _headline(fit) is not None:
            by_analysis.setdefault(analysis, []).append(fit)
    figures, tables = [], {}
    for analysis, fits in by_analysis.items():
        head = _headline(fits[0])
        rows = []
        for fit in fits:
            rows.append(fit.estimates.select(estimand=head.name).table)
            rows.append(published_estimates(fit.spec, fit.outcome)
                        .select(estimand=head.name).table)
        data = forest_data(pd.concat(rows, ignore_index=True))
        tables[f"forest_{analysis}"] = data
        refs = pd.concat(rows)["reference"].dropna()
        printed = sorted({x for x in refs if str(x).startswith("Table")})
        figures.append(_png(
            f"forest_{analysis}",
            f"{head.name}, {analysis}: posterior mean and 95 % ETI (circles)"
            + (f" beside the published estimate and 95 % CI ({', '.join(printed)}, squares; "
               "only where the paper's final model kept the term)" if printed else "")
            + f", in pooled baseline SDs, positive favours IMR.{_data_note(r)}",
            plot_forest(data, title=analysis,
                        xlabel=f"{head.name} in pooled baseline SDs (positive favours IMR)")))
    if not figures:
        return SectionView(status="unavailable", message="no fit with a headline effect")
    return SectionView(tables=tables, figures=figures, csv_only=tuple(tables))


def prior_sensitivity(r: Reanalysis) -> SectionView:
    """Render the primary outcome's headline effect under every prior set (forest + table)."""
    import numpy as np

    from imr_bayes.report.figures import plot_forest

    if (v := _missing(r, "prior_sensitivity")) is not None:
        return v
    ps = r.value("prior_sensitivity")
    table = ps.table
    sign = outcome_registry.get(ps.outcome).direction
    plot = pd.DataFrame({
        "outcome": ps.outcome, "label": table["prior_set"], "source": "posterior",
        "estimate": sign * table["post_mean"],
        "low": np.minimum(sign * table["ci_low"], sign * table["ci_high"]),
        "high": np.maximum(sign * table["ci_low"], sign * table["ci_high"])})
    fig = plot_forest(plot, title=f"{_label(ps.outcome)}, {ps.analysis}: headline effect by "
                                  "prior set",
                      xlabel="effect in baseline SDs (positive favours IMR)")
    return SectionView(
        **_status(r, "prior_sensitivity"), tables={"prior_sets": table},
        figures=[_png("prior_sets", "Posterior mean and 95 % ETI of the standardized headline "
                      "effect of the primary outcome under each prior set (models/priors)."
                      + _data_note(r), fig)],
        text=[f"{on_data(r.settings)}, the primary outcome ({_label(ps.outcome)}) of "
              f"analysis {ps.analysis} refitted under each prior set. BF10 is the "
              "Savage-Dickey Bayes factor of the effect against 0 (prior density / "
              "posterior density at 0)."],
        summary={"prior_sets": table.to_dict(orient="records")})


def _flag_list(table: pd.DataFrame, limit: int = 6) -> str:
    """Short list of flagged structure checks: ``IMRS client itt correlation imr t1-t2``."""
    flagged = table[table["flagged"].astype(bool)]
    parts = [
        f"{_label(o)} {a} {st.replace('_', ' ')} {arm}"
        + ("" if pd.isna(t) else f" t{int(t)}") + ("" if pd.isna(t2) else f"-t{int(t2)}")
        for o, a, st, arm, t, t2 in zip(flagged["outcome"], flagged["analysis"],
                                        flagged["statistic"], flagged["arm"], flagged["time"],
                                        flagged["time_other"], strict=True)]
    more = len(parts) - limit
    return "; ".join(parts[:limit]) + (f"; and {more} more" if more > 0 else "")


def ppc(r: Reanalysis) -> SectionView:
    """Render published statistics and data against their posterior predictive distributions.

    Also the statistics the model is not fitted to (the checks that can fail), the AIC step
    repeated in each replicate for Table 2/6's B, and the LOO-PIT of the primary outcome.
    """
    from imr_bayes import ppc as ppc_mod

    if (v := _missing(r, "ppc")) is not None:
        return v
    p = r.value("ppc")
    on = on_data(r.settings)
    figures = []
    for (analysis, outcome), tree in p.predictive.items():
        figures.append(_png(
            f"predictive_{analysis}__{outcome}",
            f"Posterior predictive densities per arm x time ({analysis}, {_label(outcome)}) "
            f"against the observed data (ArviZ plot_ppc_dist).{_data_note(r)}",
            ppc_mod.plot_data_checks(tree)))
    for analysis, sub in p.published_checks.groupby("analysis", sort=False):
        figures.append(_png(
            f"published_checks_{analysis}",
            f"Percentile of every published statistic ({analysis}) in its posterior "
            f"predictive distribution; band: central 95 %, red: flagged.{_data_note(r)}",
            ppc_mod.plot_published_checks(sub)))
    structure = p.structure_checks
    primary = structure[structure["outcome"] == outcome_registry.PRIMARY] \
        if len(structure) else structure
    if len(primary) and primary["ppc_low"].notna().any():
        figures.append(_png(
            "structure_checks",
            f"Statistics the model is not fitted to ({_label(outcome_registry.PRIMARY)}, "
            "every analysis): observed value (dot; red: flagged) against the central 95 % of "
            f"its replicated values (bar; tick: mean); new participants and new IMR groups."
            f"{_data_note(r)}", ppc_mod.plot_structure_checks(primary)))
    for (analysis, outcome), tree in p.loo_pit.items():
        figures.append(_png(
            f"loo_pit_{analysis}__{outcome}",
            f"LOO-PIT of every observed cell ({analysis}, {_label(outcome)}): difference "
            "between the ECDF of the PIT values and the uniform, with its simultaneous 95 % "
            f"envelope (arviz-plots plot_loo_pit on y_cell).{_data_note(r)}",
            ppc_mod.plot_loo_pit(tree)))
    table = p.published_checks
    n_flag = int(table["flagged"].astype(bool).sum())
    text = [f"{on}, {n_flag} of {len(table)} published statistics fall outside the central "
            "95 % of their posterior predictive distribution (flagged). These are means, "
            "differences, d's and B's, the quantities the model's fixed effects are fitted "
            "to, so they can hardly fail: a flag mostly points at a printed number the data "
            "cannot have produced (a misprint, or another model), not at a misfit. Replicated "
            "data keep the observed missingness; see docs/ppc.md."]
    summary: dict[str, object] = {"n_checks": len(table), "n_flagged": n_flag}
    if len(structure):
        checked = structure[structure["p_value"].notna()]
        n_s = int(checked["flagged"].astype(bool).sum())
        n_fits = int(checked.groupby(["analysis", "outcome"]).ngroups)
        text.append(
            f"{on}, {n_s} of {len(checked)} statistics the model is not fitted to (between-"
            "wave correlations, SDs after baseline, shares at the floor and ceiling of the "
            f"scale, IMR-group ICC; {n_fits} fits) fall outside the central 95 % of their "
            "replicated values" + (f": {_flag_list(checked)}." if n_s else ".")
            + " These checks can fail. With 12-16 of them per fit, a few flags arise by "
            "chance even under a correct model (at least one in about 14 % of fits, "
            "docs/ppc.md); a flag that repeats across outcomes or analyses, or one far "
            "outside (p < 0.01), points at the assumption it probes.")
        summary.update({"n_structure_checks": len(checked), "n_structure_flagged": n_s})
    selection = p.selection_checks
    if len(selection):
        sel = selection[selection["outcome"] == outcome_registry.PRIMARY]
        sel = sel if len(sel) else selection
        row = sel.iloc[0]
        text.append(
            f"{on}, the paper's AIC step repeated in each replicated data set would have kept "
            f"condition x time for {_label(row['outcome'])} ({row['analysis']}) in "
            f"{100 * row['p_kept']:.0f} % of the replicates. The printed Table 2/6 B's are "
            "post-selection numbers (a B is printed only where the step kept the term); "
            "they are checked against B among the replicates that kept it (table "
            "selection_checks), and an outcome without a printed B is flagged only if "
            "nearly every replicate would have printed one.")
        summary["n_selection_flagged"] = int(selection["flagged"].astype(bool).sum())
    return SectionView(
        **_status(r, "ppc"),
        tables={"published_checks": table, "data_checks": p.data_checks,
                "structure_checks_flagged": structure[structure["flagged"].astype(bool)]
                if len(structure) else structure,
                "structure_checks": structure, "selection_checks": selection},
        csv_only=("structure_checks",), figures=figures, text=text, summary=summary)


def missing_data(r: Reanalysis) -> SectionView:
    """Delta adjustment of every ITT fit with tipping points."""
    from imr_bayes.sensitivity import plot_tipping_points

    if (v := _missing(r, "missing_data")) is not None:
        return v
    m = r.value("missing_data")
    on = on_data(r.settings)
    tipping = m.tipping.assign(sentence=[f"{on}, {x}" for x in m.tipping["sentence"]])
    return SectionView(
        **_status(r, "missing_data"),
        tables={"tipping_points": tipping, "delta_adjustment": m.delta},
        figures=[_png(
            "tipping_points",
            "P(benefit) and the Rubin-pooled frequentist p of condition x time as the missing "
            "IMR-arm follow-ups are shifted by delta pooled baseline SDs in the unfavourable "
            "direction (MAR at delta = 0); tipping points marked." + _data_note(r),
            plot_tipping_points(m.delta))],
        text=[f"{on}, missing follow-ups are imputed from each ITT fit's posterior predictive "
              "and shifted by delta (IMR arm only). The tipping point is the smallest delta at "
              "which P(benefit) falls below 0.975, or the pooled p rises above 0.05. "
              "Assumptions: docs/missing_data.md.", *tipping["sentence"].tolist()],
        summary={"tipping_points": tipping[["outcome", "sentence"]].to_dict("records")})


#: Columns of the per-analysis comparison tables shown in the page (all go to the CSV).
COMPARISON_SHOWN: tuple[str, ...] = (
    "outcome", "estimand", "time", "published_estimate", "published_ci_low",
    "published_ci_high", "published_p", "frequentist_estimate", "posterior_estimate",
    "posterior_ci_low", "posterior_ci_high", "p_direction", "p_benefit", "p_rope", "bf10",
    "agreement", "multiplicity_conclusion",
)


def _one_row_per_outcome(rows: pd.DataFrame) -> pd.DataFrame:
    """Each outcome's headline row: its first treatment estimand without a time."""
    head = rows[rows["time"].isna()].drop_duplicates("outcome")
    rest = rows[~rows["outcome"].isin(head["outcome"])].drop_duplicates("outcome")
    out = pd.concat([head, rest])
    out = out.set_index("outcome").loc[list(dict.fromkeys(rows["outcome"]))].reset_index()
    return out[[c for c in COMPARISON_SHOWN if c in out.columns]]


def comparison(r: Reanalysis) -> SectionView:
    """Posterior, reproduced frequentist and published results side by side."""
    if (v := _missing(r, "comparison")) is not None:
        return v
    table = r.comparison
    tables = {f"outcomes_{analysis}": _one_row_per_outcome(sub)
              for analysis, sub in table.groupby("analysis", sort=False)}
    tables["comparison"] = table  # every treatment estimand; folded in the page when long
    head = table[table["time"].isna()]
    counts = head.groupby(["analysis", "agreement"], dropna=False).size()
    return SectionView(
        **_status(r, "comparison"), tables=tables,
        text=[f"{on_data(r.settings)}, one table per analysis with one row per outcome: its "
              "headline treatment effect (the first the analysis' spec declares); the CSV "
              "holds every treatment estimand. Agreement classes, the ROPE and the "
              "multiplicity columns are defined in docs/comparison.md."],
        summary={"agreement": {f"{a}/{g}": int(n) for (a, g), n in counts.items()}})


# -------------------------------------------------------------------------- prior checks
def power_scaling(r: Reanalysis) -> SectionView:
    """Power-scaling sensitivity of every fit: per fit, treatment effects, flagged estimates."""
    from imr_bayes.prior_checks import ALPHAS, SENSITIVITY_THRESHOLD, plot_power_scaling

    if (v := _missing(r, "power_scaling")) is not None:
        return v
    table = r.value("power_scaling")
    diagnosis = table["diagnosis"]
    per_fit = table.assign(
        conflict=diagnosis.str.contains("conflict"),
        strong_prior=diagnosis.str.contains("strong prior"),
        pareto_k=table[["pareto_k_prior", "pareto_k_likelihood"]].max(axis=1),
    ).groupby(["analysis", "outcome"], sort=False).agg(
        estimates=("estimand", "size"), flagged=("sensitive", "sum"),
        prior_data_conflict=("conflict", "sum"), strong_prior_weak_likelihood=(
            "strong_prior", "sum"), max_prior_sensitivity=("prior_sensitivity", "max"),
        pareto_k=("pareto_k", "max"), reliable=("reliable", "all"),
        priors_scaled=("priors_scaled", "first")).reset_index()
    shown = table[table["treatment"] | table["sensitive"]].drop(columns=["priors_scaled"])
    n_flag = int(table["sensitive"].sum())
    low, high = ALPHAS
    return SectionView(
        **_status(r, "power_scaling"),
        tables={"fits": per_fit, "effects_and_flagged": shown, "estimates": table},
        csv_only=("estimates",),
        figures=[_png("power_scaling", "Prior against likelihood sensitivity of every fit x "
                      f"estimate; dashed: the threshold {SENSITIVITY_THRESHOLD:g}; red: "
                      "flagged (arviz-stats diagnosis)." + _data_note(r),
                      plot_power_scaling(table))],
        text=[f"{on_data(r.settings)}, each fit's joint prior (its log_prior group) and its "
              "likelihood are "
              f"power-scaled by alpha = {low:g} and {high:g} (arviz-stats psense, Kallioinen "
              "et al. 2024): the sensitivity is the gradient of the cumulative Jensen-Shannon "
              "distance between the base and the power-scaled posterior. A sensitivity of "
              f"{SENSITIVITY_THRESHOLD:g} or more is flagged: prior and likelihood both "
              "sensitive = potential prior-data conflict; only the prior = potential strong "
              "prior / weak likelihood. Pareto k above the threshold makes a fit's values "
              f"unreliable. {n_flag} of {len(table)} estimates flagged; the page shows the "
              "treatment effects and every flagged estimate, the CSV every estimate. What a "
              "flag can and cannot mean: docs/prior_checks.md."],
        summary={"n_estimates": len(table), "n_flagged": n_flag,
                 "n_unreliable_fits": int((~per_fit["reliable"]).sum()),
                 "flagged": [f"{x.analysis}/{x.outcome}/{x.estimand}: {x.diagnosis}"
                             for x in table[table["sensitive"]].itertuples()]})


#: Quantities of the prior predictive checks shown as each fit's treatment effect.
PRIOR_EFFECTS: tuple[str, ...] = ("difference", "risk_difference", "los_difference")


def prior_predictive(r: Reanalysis) -> SectionView:
    """Prior arm means and effects of every fit against the outcome's possible range."""
    from imr_bayes.prior_checks import (
        OUTSIDE_SHARE,
        plot_prior_predictive,
        prior_predictive_plot_data,
    )

    if (v := _missing(r, "prior_predictive")) is not None:
        return v
    table = r.value("prior_predictive")
    key = ["analysis", "outcome"]
    means = table[table["quantity"].isin(("arm_time_mean", "arm_mean"))]
    per_fit = means.groupby(key, sort=False).agg(
        range_low=("range_low", "first"), range_high=("range_high", "first"),
        max_share_outside=("share_outside", "max"), flagged_means=("flagged", "sum"))
    effects = table[table["quantity"].isin(PRIOR_EFFECTS)]
    units = effects[effects["scale"] != "d"].set_index(key)[["scale", "q025", "q975"]]
    d = effects[effects["scale"] == "d"].set_index(key)[["q025", "q975"]]
    per_fit = per_fit.join(units.rename(columns={
        "scale": "effect_scale", "q025": "effect_q025", "q975": "effect_q975"})).join(
        d.rename(columns={"q025": "effect_d_q025", "q975": "effect_d_q975"})).reset_index()
    shown = (table["outcome"] == outcome_registry.PRIMARY) | ~table["outcome"].isin(
        outcome_registry.CODES)
    n_flag = int(means["flagged"].sum())
    return SectionView(
        **_status(r, "prior_predictive"),
        tables={"fits": per_fit, "checks": table}, csv_only=("checks",),
        figures=[_png("prior_predictive",
                      "Prior 50 % (thick) and 95 % (thin) intervals of the model-implied arm "
                      "(x time) means of the primary outcome's fits and of the single-response "
                      "fits, as a fraction of the possible range (grey); red: more than "
                      f"{OUTSIDE_SHARE:.0%} of the prior mass outside the range."
                      + _data_note(r),
                      plot_prior_predictive(prior_predictive_plot_data(table[shown])))],
        text=[f"{on_data(r.settings)}, each fit's parameters are drawn from its own resolved "
              "priors; the draws give "
              "the model-implied arm x time means and the IMR - CAU difference at 18 months "
              "(raw and in pooled baseline SDs, d), and each headline treatment effect at its "
              "18-month horizon. A mean is flagged when more than "
              f"{OUTSIDE_SHARE:.0%} of its prior draws fall outside the outcome's possible "
              f"range (models/trial.yaml). {n_flag} of {len(means)} prior arm means flagged. "
              "effect_q025/q975: prior 95 % interval of the IMR - CAU difference at 18 months "
              "(risk difference; days for the length of stay). What a flag can and cannot "
              "mean: docs/prior_checks.md."],
        summary={"n_means": len(means), "n_flagged_means": n_flag,
                 "max_share_outside": float(means["share_outside"].max())})


def cace_sensitivity(r: Reanalysis) -> SectionView:
    """Render the CACE at each never-taker effect ratio rho (table and forest plot)."""
    import numpy as np

    from imr_bayes.report.figures import plot_forest

    if (v := _missing(r, "cace_sensitivity")) is not None:
        return v
    cs = r.value("cace_sensitivity")
    t = cs.table
    sign = outcome_registry.get(cs.outcome).direction
    plot = pd.DataFrame({
        "outcome": cs.outcome, "label": [f"rho = {x:g}" for x in t["rho"]],
        "source": "posterior", "estimate": sign * t["cace_d"],
        "low": np.minimum(sign * t["cace_d_ci_low"], sign * t["cace_d_ci_high"]),
        "high": np.maximum(sign * t["cace_d_ci_low"], sign * t["cace_d_ci_high"])})
    fig = plot_forest(plot, title=f"{_label(cs.outcome)}, {cs.analysis}: CACE by never-taker "
                                  "effect ratio rho",
                      xlabel="CACE per time step in baseline SDs (positive favours IMR)")
    return SectionView(
        **_status(r, "cace_sensitivity"), tables={"cace_sensitivity": t},
        figures=[_png("cace_sensitivity", "Posterior mean and 95 % ETI of the CACE per time "
                      "step (baseline SDs) when never-takers randomized to IMR gain rho x the "
                      "compliers' effect (rho = 0: the exclusion restriction)." + _data_note(r),
                      fig)],
        text=[f"{on_data(r.settings)}, primary outcome ({cs.outcome}); estimand: {cs.label}.",
              f"{on_data(r.settings)}, the CACE model is refitted with the effect of "
              "assignment among never-takers (< 50 % of sessions attended) fixed at rho times "
              "the compliers' effect. The paper's non-completers attended 5.4 sessions on "
              "average and at least 11 attended 10 or more, so rho = 0 (the exclusion "
              "restriction) is optimistic. The CACE priors are the ITT priors divided by the "
              "share of the ITT effect the compliers carry (prior_sd_d). itt_implied is the "
              "ITT effect the model implies: the data pin the ITT effect, rho decides how "
              "much of it is the compliers'. Model, priors and a simulation with a violated "
              "exclusion restriction: docs/completion_fidelity.md."],
        summary={"outcome": cs.outcome, "rows": t.to_dict(orient="records")})

