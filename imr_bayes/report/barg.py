"""The Bayesian Analysis Reporting Guidelines (Kruschke 2021) as a checklist of the report.

Kruschke, J. K. (2021). Bayesian Analysis Reporting Guidelines. *Nature Human Behaviour*
5, 1282-1291. doi:10.1038/s41562-021-01177-7. The items below paraphrase the steps of its
Table 1; each names the report sections (pipeline section keys) and documents that cover it.
``docs/kruschke_barg.md`` explains each mapping.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class BargItem:
    """One BARG item.

    Attributes
    ----------
    item : str
        Step and letter as in the guideline, e.g. ``"2.B"``.
    topic : str
        Short name of the item.
    sections : tuple of str
        Keys of the report sections that cover it (empty if only documents do).
    docs : str
        Where in the repository's documents the item is covered ("" if nowhere).
    applicable : bool
        False where the guideline's condition does not hold for this report.
    """

    item: str
    topic: str
    sections: tuple[str, ...]
    docs: str = ""
    applicable: bool = True


ITEMS: tuple[BargItem, ...] = (
    BargItem("P.A", "Why Bayesian", (), "README.md; docs/report.md"),
    BargItem("P.B", "Goals of the analysis", ("verdict", "comparison"),
             "README.md; docs/report.md"),
    BargItem("1.A", "Data variables (outcomes, predictors)", ("data",), "docs/architecture.md"),
    BargItem("1.B", "Likelihood, parameters and multilevel structure", ("fits",),
             "docs/ (Bayesian model documentation)"),
    BargItem("1.C", "Prior distribution and its justification", ("fits",),
             "models/ prior sets; docs/ priors"),
    BargItem("1.D", "Formal specification (code) of likelihood and prior", ("fits", "provenance"),
             "models/ specs (hashes in Provenance)"),
    BargItem("1.E", "Prior predictive check", ("prior_predictive",), "docs/prior_checks.md"),
    BargItem("2.A", "Software and versions", ("provenance",)),
    BargItem("2.B", "MCMC convergence (R-hat) for every parameter", ("fits",)),
    BargItem("2.C", "MCMC resolution (ESS) for every parameter", ("fits",)),
    BargItem("2.D", "Approximations other than MCMC", (), "", applicable=False),
    BargItem("3.A", "Posterior predictive check", ("ppc",)),
    BargItem("3.B", "Posterior summaries: central tendency and 95 % ETI", ("fits", "forest")),
    BargItem("3.C", "Bayes factors and posterior model probabilities", ("comparison",)),
    BargItem("4.A", "ROPE: limits and justification", ("comparison",), "docs/ (ROPE)"),
    BargItem("4.B", "Decision thresholds and decisions", ("verdict", "comparison"),
             "docs/report.md (verdict sentence rules)"),
    BargItem("5.A", "Sensitivity to the prior (broad priors)",
             ("summary_level", "sensitivity", "power_scaling"), "docs/prior_checks.md"),
    BargItem("5.B", "Sensitivity to the prior (informed priors)", ("summary_level",)),
    BargItem("5.C", "Sensitivity of Bayes factors to the prior", ("sensitivity",)),
    BargItem("6.A", "Reproducibility: code, data source, seed, posteriors", ("provenance", "fits"),
             "README.md (make reanalysis)"),
)


def checklist(statuses: dict[str, str]) -> pd.DataFrame:
    """Return the BARG checklist for a run.

    Parameters
    ----------
    statuses : dict of str to str
        Status of each report section that ran (``ok``, ``warning``, ``failed``,
        ``unavailable``), keyed by section key.

    Returns
    -------
    DataFrame
        Columns ``item, topic, covered_by, docs, status``. ``status`` is ``covered`` when
        every listed section produced results (``ok`` or ``warning``), ``partly covered`` when
        some did, ``documents only`` when only documents cover it, ``not covered`` when none
        did, and ``not applicable`` where the guideline's condition does not hold.
    """
    rows = []
    for it in ITEMS:
        produced = [s for s in it.sections if statuses.get(s) in ("ok", "warning")]
        if not it.applicable:
            status = "not applicable"
        elif not it.sections:
            status = "documents only" if it.docs else "not covered"
        elif len(produced) == len(it.sections):
            status = "covered"
        elif produced:
            status = "partly covered"
        else:
            status = "not covered"
        rows.append({
            "item": it.item,
            "topic": it.topic,
            "covered_by": ", ".join(it.sections) or "-",
            "docs": it.docs or "-",
            "status": status,
        })
    return pd.DataFrame(rows)
