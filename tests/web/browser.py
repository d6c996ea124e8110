"""Headless Chromium driven by Selenium, and the observatory served by a real `asiarch serve` process."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from io import BytesIO
from pathlib import Path

from PIL import Image

CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")
MISSING = (
    "Chromium and its driver are needed for browser tests: apt-get install chromium chromium-driver "
    "(.ci/run installs them)"
)
READY_TIMEOUT_S = 30.0
SERVER_START_TIMEOUT_S = 60.0


def chromium_binary() -> str | None:
    found = [path for path in CHROMIUM_PATHS if Path(path).exists()]
    return found[0] if found and shutil.which("chromedriver") else None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@contextmanager
def served(database: Path) -> Iterator[str]:
    """`asiarch serve` on a free port, as a user starts it; its URL until the block ends."""
    port = free_port()
    command = [sys.executable, "-m", "asiarch", "serve", "--db", str(database), "--port", str(port)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + SERVER_START_TIMEOUT_S
        while True:
            try:
                urllib.request.urlopen(url, timeout=2).read()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"asiarch serve did not start: {process.stdout.read()}") from None
                time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextmanager
def chromium(width: int = 1400, height: int = 900) -> Iterator[object]:
    """A headless Chromium session (the system browser; no download)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium_binary()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver")), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_ready(driver, view: str | None = None, timeout: float = READY_TIMEOUT_S) -> None:  # noqa: ANN001
    """Until the page says it finished rendering (``body[data-ready=1]``), in ``view`` when given."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, current = driver.execute_script("return [document.body.dataset.ready, document.body.dataset.view]")
        if ready == "1" and (view is None or current == view):
            return
        time.sleep(0.05)
    error = driver.execute_script("const e = document.getElementById('error'); return e ? e.textContent : ''")
    raise AssertionError(f"the page never became ready in view {view!r} (error: {error!r})")


def open_view(driver, url: str, view: str) -> None:  # noqa: ANN001
    """Go to ``url`` and wait for ``view``; the same URL again reloads (a hash that does not change fires nothing)."""
    driver.execute_script("document.body && delete document.body.dataset.ready")
    if driver.current_url == url:
        driver.refresh()
    else:
        driver.get(url)
    wait_ready(driver, view)


def screenshot_is_a_picture(png: bytes) -> tuple[float, int]:
    """Share of pixels that are not background, and the number of distinct colours: a blank page has ~0 and 1."""
    image = Image.open(BytesIO(png)).convert("RGB")
    image.thumbnail((400, 400))
    pixels = list(image.get_flattened_data())
    background = max(set(pixels), key=pixels.count)
    inked = sum(1 for p in pixels if sum(abs(a - b) for a, b in zip(p, background)) > 30) / len(pixels)
    return inked, len(set(pixels))
