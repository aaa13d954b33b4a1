"""The report in a real browser: headless Chromium (Debian packages) driven by selenium.

A ``--quick`` report on two outcomes is generated through the command line, opened from
``file://``, and checked: no console errors, every image loaded, the verdict on the trial
first (its 12 outcomes, on the first screen) and the provenance last, a data-source tag on
every section (the twin's sections marked SYNTHETIC), the comparison table with one row per
fitted outcome. Screenshots are saved next to the report (``screenshot.png``, the whole
page; ``first_screen.png``, the top, as in the README). Slow tier (``make test-slow``);
``.ci/run`` runs it after the fast tier.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests import browser

pytestmark = pytest.mark.slow

OUTCOMES = ("imrs_client", "bsi")
#: Height in px of the first-screen screenshot (the README's docs/img/report.png).
FIRST_SCREEN = 1600


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reports")
    cmd = [sys.executable, "-m", "imr_bayes.cli", "reanalyze", "--quick", "--no-progress",
           "--out", str(out), "--outcomes", *OUTCOMES, "--analyses", "itt"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    page = Path(done.stdout.strip().splitlines()[-1])
    assert page.name == "index.html" and page.is_file()
    return page.parent


@pytest.fixture(scope="module")
def page_info(report):
    with browser.chromium_driver() as driver:
        info = browser.inspect_page(driver, report / "index.html")
        browser.screenshot(driver, report / "first_screen.png", height=FIRST_SCREEN)
        browser.screenshot(driver, report / "screenshot.png")
    return info


def test_page_loads_without_console_errors(page_info):
    assert page_info["title"].startswith("imr_bayes reanalysis")
    assert page_info["console_errors"] == []


def test_every_image_loads(page_info, report):
    summary = json.loads((report / "summary.json").read_text())
    expected = sum(len(s["figures"]) for s in summary["sections"])
    assert expected >= 2  # at least the summary-level heat maps
    assert len(page_info["images"]) == expected
    for img in page_info["images"]:
        assert img["complete"] and img["width"] > 0, img
        assert img["src"].startswith("data:image/png;base64,")  # embedded, no network


def test_screenshot_saved_next_to_report(page_info, report):
    for name in ("screenshot.png", "first_screen.png"):
        assert (report / name).read_bytes().startswith(b"\x89PNG")


def test_the_verdict_comes_first_and_the_provenance_last(page_info):
    order = [s["id"] for s in page_info["sections"]]
    assert order[:2] == ["verdict", "audit_findings"]
    assert order[-1] == "provenance"
    # the verdict starts on the first screen, under the title and the contents
    assert page_info["sections"][0]["top"] < page_info["viewport_height"]
    assert page_info["heading"] == "IMR trial: Bayesian reanalysis"


def test_every_section_carries_its_data_source_tag(page_info, report):
    summary = json.loads((report / "summary.json").read_text())
    expected = {s["key"]: s["source_tag"] for s in summary["sections"]}
    shown = {s["id"]: s["source"] for s in page_info["sections"]}
    assert shown.keys() == expected.keys()
    for key, tag in shown.items():
        assert tag == f"Data source: {expected[key]}", key
    data = [s["key"] for s in summary["sections"] if s["source"] == "data"]
    assert data and all(shown[k].startswith("Data source: SYNTHETIC twin") for k in data)
    assert shown["verdict"] == "Data source: published numbers"


def test_the_verdict_shows_all_12_outcomes(page_info):
    assert page_info["lists"]["items-verdict"] == 12  # one sentence per outcome
    assert page_info["tables"]["table-verdict-verdict"] == 12  # one row per outcome


def test_comparison_table_has_one_row_per_outcome(page_info, report):
    summary = json.loads((report / "summary.json").read_text())
    comparison = next(s for s in summary["sections"] if s["key"] == "comparison")
    if comparison["status"] == "unavailable":
        pytest.skip(f"comparison section: {comparison['message']}")
    rows = {k: v for k, v in page_info["tables"].items()
            if k.startswith("table-comparison-outcomes")}
    assert rows, f"no comparison table in the page: {sorted(page_info['tables'])}"
    for table_id, n in rows.items():
        assert n == len(OUTCOMES), table_id
