"""A real headless Chromium for tests (Debian's ``chromium`` + ``chromium-driver``, driven by
selenium; ``.ci/ui.sh`` installs them).

    with headless_chromium(tmp_path) as browser:
        browser.get(path.as_uri())
        images = loaded_images(browser)
        browser.save_screenshot(str(tmp_path / "page.png"))

The browser runs as root with no sandbox, no GPU and nothing that reaches the network by
itself (background networking, component updates, sync, first-run tasks), in an empty
profile directory of its own.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("THOUGHTMILL_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("THOUGHTMILL_CHROMEDRIVER", "/usr/bin/chromedriver")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1400,1000",
)


def require_browser() -> None:
    """Skip when Chromium, its driver or selenium is missing; fail under CI=true."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not shutil.which(p)]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("selenium")
    if not missing:
        return
    message = f"headless browser missing ({', '.join(missing)}): run `bash .ci/ui.sh`"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@contextlib.contextmanager
def headless_chromium(profile_root: Path) -> Iterator[Any]:
    """A selenium Chrome driver on a fresh, empty profile under ``profile_root``."""
    require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = profile_root / "chromium-profile"
    profile.mkdir(parents=True, exist_ok=False)
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
    try:
        yield driver
    finally:
        driver.quit()


def loaded_images(driver: Any) -> list[dict[str, Any]]:
    """Every <img> of the page: loaded (complete), its natural and rendered size, alt text."""
    return driver.execute_script(
        "return Array.from(document.images).map(i => ({alt: i.alt, complete: i.complete,"
        " naturalWidth: i.naturalWidth, naturalHeight: i.naturalHeight,"
        " width: i.getBoundingClientRect().width, height: i.getBoundingClientRect().height}));"
    )
