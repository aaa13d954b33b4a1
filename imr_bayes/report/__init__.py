"""The reanalysis report: sections, figures and the self-contained HTML page.

:func:`write_report` renders a :class:`imr_bayes.reanalysis.Reanalysis` into the folder
``reports/<run-id>/`` (``index.html``, ``summary.json``, ``tables/``, ``figures/``,
``posteriors/``), written atomically.
"""

from imr_bayes.report.html import render, summary, write_report

__all__ = ["render", "summary", "write_report"]
