"""Render a run as a self-contained HTML page (jinja2) and write the report folder.

The page embeds its figures as base64 PNG and its stylesheet inline, so it needs no network.
Everything is written inside :func:`imr_bayes.atomic.atomic_dir`: an interrupted run leaves a
hidden ``.<run-id>.*.part`` folder, never a report folder that looks complete.
"""

from __future__ import annotations

import base64
import json
import math
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2
import numpy as np
import pandas as pd

from imr_bayes import __version__
from imr_bayes.atomic import atomic_dir

if TYPE_CHECKING:
    from imr_bayes.reanalysis import Reanalysis
    from imr_bayes.report.sections import Section, SectionView

#: Tables longer than this are shown folded (``<details>``) in the page.
FOLD_ROWS: int = 25

STATUS_LABELS: dict[str, str] = {
    "ok": "ok", "warning": "check", "failed": "failed", "unavailable": "not in this build",
}



def _format_number(value: float) -> str:
    if not math.isfinite(value):
        return ""
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.3g}"
    return f"{value:.3f}".rstrip("0").rstrip(".") if abs(value) < 1000 else f"{value:.1f}"


def table_html(df: pd.DataFrame, table_id: str) -> str:
    """Render a data frame as an HTML table with readable numbers and a stable id."""
    shown = df.copy()
    for col in shown.columns:
        if pd.api.types.is_float_dtype(shown[col]):
            shown[col] = shown[col].map(
                lambda v: "" if pd.isna(v) else _format_number(float(v))
            )
    shown = shown.astype(object).where(shown.notna(), "")  # no "<NA>" / "nan" in the page
    return shown.to_html(index=False, classes="data", table_id=table_id, na_rep="",
                         border=0, escape=True)


def report_title(result: Reanalysis) -> str:
    """Return the page's title: the IMR trial for the twin, the user's study otherwise.

    The report of the synthetic twin (and of the published numbers it always carries) is
    "IMR trial: Bayesian reanalysis"; a run on the user's data is titled after
    ``RunSettings.study`` (``--study-label``, default the data file's stem).
    """
    return f"{result.settings.study}: Bayesian reanalysis"


def _title(name: str) -> str:
    return name.replace("_", " ").capitalize()


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, (pd.Timestamp, Path)):
        return str(value)
    if value is pd.NA:
        return None
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _clean_json(value: Any) -> Any:
    """Replace NaN and infinities (invalid JSON) with None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_json(v) for v in value]
    return value


def _figure_groups(figures: list) -> list[dict[str, Any]]:
    """Group consecutive figures of one non-empty ``group`` for folding in the page."""
    out: list[dict[str, Any]] = []
    for fig in figures:
        item = {"caption": fig.caption, "b64": base64.b64encode(fig.png).decode("ascii")}
        if out and fig.group and out[-1]["group"] == fig.group:
            out[-1]["figs"].append(item)
        else:
            out.append({"group": fig.group, "figs": [item]})
    return out


def rendered(result: Reanalysis) -> list[tuple[Section, SectionView]]:
    """Render every section of :data:`imr_bayes.report.sections.SECTIONS` (page order).

    A section whose rendering raises is shown as ``failed`` with its one-line error.
    """
    import importlib

    from imr_bayes.report.sections import SECTIONS, SectionView

    out = []
    for sec in SECTIONS:
        module, attr = sec.render.split(":")
        try:
            view = getattr(importlib.import_module(module), attr)(result)
        except Exception as exc:  # noqa: BLE001 - shown in the page, never hidden
            first = (str(exc).splitlines() or [""])[0]
            view = SectionView(status="failed", message=f"{type(exc).__name__}: {first}")
        out.append((sec, view))
    return out


def render(result: Reanalysis, views: list[tuple[Section, SectionView]] | None = None
           ) -> str:
    """Return the report page of a run as one HTML string (``views``: pre-rendered)."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("imr_bayes.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    css = resources.files("imr_bayes.report").joinpath("templates/report.css").read_text("utf-8")
    from imr_bayes.report.sections import source_kind, source_tag

    settings = result.settings
    sections = []
    problems = []
    for sec, res in (views if views is not None else rendered(result)):
        tables = [
            {
                "title": _title(name),
                "csv": f"tables/{sec.key}__{name}.csv",
                "html": table_html(df, f"table-{sec.key}-{name}"),
                "n_rows": len(df),
                "collapsed": len(df) > FOLD_ROWS,
            }
            for name, df in res.tables.items() if name not in res.csv_only
        ]
        csv_links = [{"title": _title(name), "csv": f"tables/{sec.key}__{name}.csv"}
                     for name in res.csv_only if name in res.tables]
        figures = _figure_groups(res.figures)
        entry = {
            "key": sec.key, "title": sec.title, "status": res.status,
            "status_label": STATUS_LABELS[res.status], "message": res.message,
            "text": res.text, "bullets": res.items, "tables": tables, "figures": figures,
            "csv_links": csv_links, "source_kind": source_kind(sec, settings),
            "source_tag": source_tag(sec, settings),
        }
        sections.append(entry)
        if res.status in ("failed", "warning"):
            problems.append(entry)
    return env.get_template("report.html").render(
        title=report_title(result),
        run_id=result.run_id,
        started=result.started,
        seconds=result.seconds,
        mode="quick (--quick)" if settings.quick else "full",
        data_source=(f"user file {settings.data_path.name}" if settings.data_path
                     else "synthetic twin (default)"),
        problems=problems,
        sections=sections,
        css=css,
        version=__version__,
    )


def summary(result: Reanalysis, views: list[tuple[Section, SectionView]] | None = None
            ) -> dict[str, Any]:
    """Return the machine-readable summary of a run (the content of ``summary.json``)."""
    from imr_bayes.report.sections import source_tag

    settings = result.settings
    views = views if views is not None else rendered(result)
    return _clean_json({
        "title": report_title(result),
        "run_id": result.run_id,
        "started_utc": result.started,
        "seconds": round(result.seconds, 1),
        "imr_bayes_version": __version__,
        "settings": {
            "data": str(settings.data_path) if settings.data_path else "default twin",
            "study": settings.study,
            "quick": settings.quick,
            "sampling": settings.sampling,
            "outcomes": list(settings.outcomes),
            "analyses": list(settings.analyses) if settings.analyses is not None else "all",
            "seed": settings.seed,
        },
        "problems": result.problems,
        "sections": [
            {
                "key": sec.key,
                "title": sec.title,
                "status": res.status,
                "message": res.message,
                "seconds": round(result.stages[sec.stage].seconds, 1)
                if sec.stage in result.stages else 0.0,
                "source": sec.source,
                "source_tag": source_tag(sec, settings),
                "tables": [f"tables/{sec.key}__{name}.csv" for name in res.tables],
                "figures": [f"figures/{sec.key}__{f.name}.png" for f in res.figures],
                "files": sorted(res.files),
                "results": res.summary,
            }
            for sec, res in views
        ],
    })


def write_report(result: Reanalysis, out_dir: str | Path) -> Path:
    """Write the report folder ``out_dir/<run-id>/`` atomically and return its path.

    The folder holds ``index.html``, ``summary.json``, ``tables/*.csv``, ``figures/*.png``
    and whatever extra files the sections produce (e.g. ``posteriors/*.nc``).
    """
    target = Path(out_dir) / result.run_id
    views = rendered(result)
    with atomic_dir(target) as tmp:
        (tmp / "tables").mkdir()
        (tmp / "figures").mkdir()
        for sec, res in views:
            for name, df in res.tables.items():
                df.to_csv(tmp / "tables" / f"{sec.key}__{name}.csv", index=False)
            for fig in res.figures:
                (tmp / "figures" / f"{sec.key}__{fig.name}.png").write_bytes(fig.png)
            for rel, writer in res.files.items():
                path = tmp / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                writer(path)
        (tmp / "summary.json").write_text(
            json.dumps(summary(result, views), indent=2, default=_json_default),
            encoding="utf-8")
        # index.html last: its presence marks a complete report inside the folder as well.
        (tmp / "index.html").write_text(render(result, views), encoding="utf-8")
    return target
