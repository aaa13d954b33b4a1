"""Shared by the benchmark scripts: replace one ``## `` section of ``bench/results.md``."""

from __future__ import annotations

from pathlib import Path

from imr_bayes.atomic import write_text

RESULTS = Path(__file__).resolve().parent / "results.md"


def write_section(section: str, text: str) -> None:
    """Replace the section headed ``section`` with ``text`` (append it if absent), atomically."""
    old = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    lines = old.splitlines(keepends=True)
    start = next((k for k, line in enumerate(lines) if line.strip() == section), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = next((k for k in range(start + 1, len(lines)) if lines[k].startswith("## ")),
                   len(lines))
        rest = "".join(lines[end:])
        new = "".join(lines[:start]) + text + ("\n" + rest if rest else "")
    write_text(RESULTS, new)
