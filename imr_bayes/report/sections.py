"""The sections of the main run: each turns one analysis into tables, figures and a status.

Every function here has the signature ``(context) -> SectionResult`` and is registered in
:data:`imr_bayes.pipeline.SECTIONS`. They call the public API of the analysis modules and
never print. Participant rows never leave this module: only counts and summaries do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pandas as pd

from imr_bayes.constants import ARMS, TIME_LABELS, TIMES
from imr_bayes.provenance import data_sha256, file_sha256, package_versions

if TYPE_CHECKING:
    from imr_bayes.pipeline import RunContext, SectionResult


def _result(**kwargs) -> SectionResult:
    from imr_bayes.pipeline import SectionResult

    return SectionResult(**kwargs)


def provenance(ctx: RunContext) -> SectionResult:
    """Report the data source with its SHA-256, spec hashes, seed, sampler and versions."""
    settings = ctx.settings
    rows: list[dict[str, str]] = []
    if settings.data_path is not None:
        rows.append({"item": "data source", "value": f"user file {settings.data_path.name}"})
        rows.append({"item": "data file SHA-256", "value": file_sha256(settings.data_path)})
    else:
        rows.append({"item": "data source",
                     "value": "synthetic twin (imr_bayes.data.default_twin)"})
    if "data" in ctx.store:
        rows.append({"item": "data content SHA-256", "value": data_sha256(ctx.data)})
    rows.append({"item": "seed", "value": str(settings.seed)})
    sampling = settings.sampling
    rows.append({
        "item": "sampler",
        "value": f"{sampling['chains']} chains x {sampling['draws']} draws "
                 f"(+{sampling['tune']} tuning)" + (" [--quick]" if settings.quick else ""),
    })
    rows.append({"item": "outcomes", "value": ", ".join(settings.outcomes)})
    spec_hashes = ctx.store.get("spec_hashes", {})
    for label, digest in sorted(spec_hashes.items()):
        rows.append({"item": f"spec SHA-256 ({label})", "value": digest})
    versions = package_versions()
    table = pd.DataFrame(rows)
    version_table = pd.DataFrame({"package": list(versions), "version": list(versions.values())})
    return _result(
        tables={"provenance": table, "versions": version_table},
        summary={"items": {r["item"]: r["value"] for r in rows}, "versions": versions},
    )


def data_summary(ctx: RunContext) -> SectionResult:
    """Count observations per arm x time and missingness per outcome (no participant rows)."""
    df = ctx.data
    participants = df.groupby("arm", observed=True)["participant_id"].nunique()
    text = [
        "Participants: " + ", ".join(
            f"{arm.upper()} {int(participants.get(arm, 0))}" for arm in ARMS
        ) + f" (rows: {len(df)}, one per participant and measurement)."
    ]
    counts = []
    for code in ctx.settings.outcomes:
        if code not in df.columns:
            continue
        for arm in ARMS:
            for t in TIMES:
                cell = df[(df["arm"] == arm) & (df["time"] == t)][code]
                counts.append({
                    "outcome": code, "arm": arm, "time": t, "time_label": TIME_LABELS[t],
                    "n_rows": len(cell), "n_observed": int(cell.notna().sum()),
                    "pct_missing": round(100 * float(cell.isna().mean()), 1) if len(cell) else None,
                })
    table = pd.DataFrame(counts)
    wide = table.pivot_table(index="outcome", columns=["arm", "time"], values="n_observed",
                             sort=False)
    wide.columns = [f"{arm}_t{t}" for arm, t in wide.columns]
    wide = wide.reset_index()
    missing = (table.groupby("outcome", sort=False)
               .apply(lambda g: round(100 * (1 - g["n_observed"].sum() / g["n_rows"].sum()), 1),
                      include_groups=False)
               .rename("pct_missing_overall").reset_index())
    wide = wide.merge(missing, on="outcome")
    return _result(
        tables={"observed_counts": wide, "counts_long": table},
        text=text,
        summary={"participants": {a: int(participants.get(a, 0)) for a in ARMS},
                 "rows": len(df)},
    )


def published_tables(ctx: RunContext) -> SectionResult:
    """Return the published fixed effects and marginal means (Tables 2, 3, 6, 7)."""
    from imr_bayes import published

    tables = {}
    for sample in ("itt", "completers"):
        tables[f"fixed_effects_{sample}"] = published.fixed_effects(sample)
        tables[f"marginal_means_{sample}"] = published.marginal_means(sample)
    itt = tables["fixed_effects_itt"]
    cxt = itt[itt["term"] == "condition_x_time"]
    return _result(
        tables=tables,
        text=[f"Condition x time effects in the paper's final ITT models: "
              f"{int(cxt['in_final_model'].sum())} of {len(cxt)} outcomes."],
    )


def audit(ctx: RunContext) -> SectionResult:
    """Run the internal-consistency audit of the published tables."""
    from imr_bayes import audit as audit_mod

    flags = audit_mod.audit_published()
    return _result(
        tables={"audit": flags},
        text=[f"{len(flags)} cell(s) flagged by the consistency checks."],
        summary={"n_flags": len(flags)},
    )


def barg_checklist(ctx: RunContext) -> SectionResult:
    """List the Kruschke (2021) BARG items, each with the report section that covers it."""
    from imr_bayes.report.barg import checklist

    table = checklist({key: res.status for key, res in ctx.results.items()})
    covered = int((table["status"] == "covered").sum())
    return _result(
        tables={"barg": table},
        text=[f"{covered} of {len(table)} items covered by this report."],
        summary={"covered": covered, "items": len(table)},
    )
