"""The report in a real browser: headless Chromium (Debian packages) driven by selenium.

A ``--quick`` report on two outcomes is generated through the command line, opened from
``file://``, and checked: no console errors, every image loaded, the comparison table has
one row per outcome. A screenshot is saved next to the report (``screenshot.png``).
Slow tier (``make test-slow``); ``.ci/run`` runs it after the fast tier.
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
    shot = report / "screenshot.png"
    assert shot.read_bytes().startswith(b"\x89PNG")


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
