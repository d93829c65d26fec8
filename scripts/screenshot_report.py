"""Open a run's report.html in headless Chromium and save a screenshot of it.

    python scripts/screenshot_report.py runs/<run-id>/report.html docs/images/report.png

Chromium comes from Debian (apt-get install chromium). The page must render with the network
off: it is one file with inline CSS and SVG, and Chromium is started with no proxy reachable.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def find_browser() -> str | None:
    return next((path for path in map(shutil.which, BROWSERS) if path), None)


def headless(browser: str, *args: str, timeout: int = 60) -> subprocess.CompletedProcess:
    """Run the browser headless, offline (every request goes to a proxy that does not exist)."""
    return subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--proxy-server=127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def screenshot(html: Path, png: Path, width: int = 1200, height: int = 1500) -> Path:
    browser = find_browser()
    if browser is None:
        raise SystemExit("no Chromium found: apt-get install chromium")
    png.parent.mkdir(parents=True, exist_ok=True)
    done = headless(
        browser,
        f"--screenshot={png.resolve()}",
        f"--window-size={width},{height}",
        html.resolve().as_uri(),
    )
    if not png.exists():
        raise SystemExit(f"Chromium wrote no screenshot: {done.stderr[-2000:]}")
    return png


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    print(screenshot(Path(sys.argv[1]), Path(sys.argv[2])))
