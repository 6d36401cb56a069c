"""The HTML report in a real browser: Debian's Chromium, headless, driven by chromedriver
through selenium. No console errors, no request leaves the page (every request the browser
makes is the file itself or data the page holds), every chart present and drawn, and the
screenshot of each chart is not blank."""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import pytest
from components import require

CHARTS = ("treemap", "unique-shared", "usage")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1280,2400",
]


@pytest.fixture
def browser(tmp_path: Path):
    chromium = require("chromium", "to open the HTML report (Debian package chromium)")
    driver_path = require("chromedriver", "to drive Chromium (Debian package chromium-driver)")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.fail("selenium is a test dependency (pip install -e '.[test]')", pytrace=False)
    options = webdriver.ChromeOptions()
    real = Path("/usr/lib/chromium/chromium")  # /usr/bin/chromium is Debian's wrapper script
    options.binary_location = str(real if real.exists() else chromium)
    for flag in [*FLAGS, f"--user-data-dir={tmp_path / 'profile'}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(driver_path, log_output=os.devnull))
    yield driver
    driver.quit()


def _requests(driver) -> list[str]:
    urls = []
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def _colours(png: bytes) -> int:
    from PIL import Image

    return len(Image.open(io.BytesIO(png)).convert("RGB").getcolors(maxcolors=1 << 20) or [])


def test_html_report_opens_offline_with_charts_drawn(browser, bilge, fixtures_dir: Path, tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    bilge("load", "-q", "-i", fixtures_dir / "docker/images.tar.gz")
    bilge("report", "--snapshot", "--format", "json")
    bilge("image", "prune", "-f")  # a prune records a snapshot with what it freed
    report = tmp_path / "report.html"
    bilge("report", "--snapshot", "-o", report)
    _requests(browser)  # drain what the browser's own start page fetched
    browser.get(report.as_uri())
    browser.implicitly_wait(5)
    drawn = browser.execute_script(
        "return Array.from(document.querySelectorAll('.js-plotly-plot')).map("
        "d => [d.id, d.querySelectorAll('path').length, d._fullData ? d._fullData.length : 0])"
    )
    assert {d[0] for d in drawn} == set(CHARTS), drawn
    for chart, paths, traces in drawn:
        assert paths > 5 and traces >= 1, (chart, paths, traces)
    tiles = browser.execute_script("return document.querySelectorAll('#treemap g.slice').length")
    assert tiles >= 10  # the top images and their layers
    assert "zoo:latest" in browser.find_element(By.ID, "images").text
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []
    requests = _requests(browser)
    assert report.as_uri() in requests  # the log sees the page's own load, so it would see any other
    outside = [u for u in requests if not (u == report.as_uri() or u.startswith(("data:", "blob:")))]
    assert outside == []
    for chart in CHARTS:
        shot = browser.find_element(By.ID, chart).screenshot_as_png
        assert _colours(shot) > 20, f"{chart} looks blank"
    page = browser.get_screenshot_as_png()
    assert _colours(page) > 50
