"""Headless Chromium for the browser test: install (Debian packages), start, inspect a page.

The test set-up installs Debian's ``chromium`` and ``chromium-driver`` itself when they are
missing (``apt-get``; the test machines run as root). Selenium drives the browser with a fresh
profile and no background networking; pages are opened from ``file://``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
PACKAGES = ("chromium", "chromium-driver")

#: Flags for a quiet, offline, sandbox-less headless browser (CI runs as root).
FLAGS: tuple[str, ...] = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--window-size=1280,1600",
)


def ensure_chromium() -> None:
    """Install Debian's chromium and chromium-driver if either is missing.

    Raises
    ------
    RuntimeError
        If they are missing and cannot be installed (not root, or apt-get failed).
    """
    if CHROMIUM.exists() and CHROMEDRIVER.exists():
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise RuntimeError(
            f"{CHROMIUM} / {CHROMEDRIVER} missing and cannot be installed here: run as root "
            f"`apt-get install -y {' '.join(PACKAGES)}`"
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", *PACKAGES]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed: {done.stderr.strip()[-500:]}")


@contextmanager
def chromium_driver() -> Iterator[Any]:
    """Yield a selenium Chrome driver on headless Chromium with a fresh, temporary profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    ensure_chromium()
    profile = tempfile.mkdtemp(prefix="imr-bayes-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)),
                              options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def inspect_page(driver: Any, page: Path) -> dict[str, Any]:
    """Open ``page`` from disk and collect what the browser test asserts on.

    Returns
    -------
    dict
        ``console_errors`` (SEVERE browser log entries), ``images`` (src prefix, complete,
        naturalWidth per ``<img>``), ``title``, ``heading`` (the ``<h1>``), ``tables``
        (id -> number of body rows), ``sections`` (page order: id, the text of its
        data-source tag, top edge in px from the page's top) and ``lists`` (id of each
        ``<ol class="items">`` -> number of entries), ``viewport_height`` (px).
    """
    driver.get(page.resolve().as_uri())
    driver.execute_script("return document.readyState")  # waits for the load event
    images = driver.execute_script(
        "return Array.from(document.images).map(i => "
        "({src: i.src.slice(0, 40), complete: i.complete, width: i.naturalWidth}));"
    )
    tables = driver.execute_script(
        "const out = {}; for (const t of document.querySelectorAll('table[id]')) "
        "{ out[t.id] = t.tBodies.length ? t.tBodies[0].rows.length : 0; } return out;"
    )
    layout = driver.execute_script(
        "const sections = Array.from(document.querySelectorAll('main > section')).map(s => "
        "{ const tag = s.querySelector(':scope > p.source'); return {id: s.id, "
        "source: tag ? tag.textContent.trim() : '', "
        "top: s.getBoundingClientRect().top + window.scrollY}; });"
        "const lists = {}; for (const l of document.querySelectorAll('ol.items[id]')) "
        "{ lists[l.id] = l.querySelectorAll(':scope > li').length; }"
        "return {sections: sections, lists: lists, viewport: window.innerHeight, "
        "heading: document.querySelector('h1').textContent.trim()};"
    )
    logs = driver.get_log("browser")
    return {
        "console_errors": [e for e in logs if e.get("level") == "SEVERE"],
        "images": images,
        "title": driver.title,
        "heading": layout["heading"],
        "tables": tables,
        "sections": layout["sections"],
        "lists": layout["lists"],
        "viewport_height": layout["viewport"],
    }


def screenshot(driver: Any, target: Path, *, height: int | None = None) -> Path:
    """Save a PNG screenshot of the current page: the whole page, or its top ``height`` px."""
    if height is None:
        height = min(max(int(driver.execute_script("return document.body.scrollHeight")),
                         800), 16000)
    driver.set_window_size(1280, height)
    driver.save_screenshot(str(target))
    return target
