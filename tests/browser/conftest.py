"""Browser-test fixtures: Debian's headless Chromium through Debian's chromedriver, and the screenshot folder."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.browser.helpers import Browser
from tests.conftest import REPO_ROOT

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-dev-shm-usage",
    "--window-size=1366,1000",
)
_used_screenshot_dirs: set[Path] = set()


def screenshot_root() -> Path:
    """SC_SCREENSHOT_DIR, or test-artifacts/screenshots in the repository."""
    return Path(os.environ.get("SC_SCREENSHOT_DIR") or REPO_ROOT / "test-artifacts" / "screenshots").resolve()


def _binary(env: str, default: str) -> str | None:
    """The executable named by `env` or found as `default`, or None."""
    named = os.environ.get(env)
    if named:
        return named if os.access(named, os.X_OK) else None
    return shutil.which(default) or (f"/usr/bin/{default}" if os.access(f"/usr/bin/{default}", os.X_OK) else None)


@pytest.fixture(scope="session")
def screenshot_dir() -> Path:
    """Where the browser tests save their screenshots (printed at the end of the run)."""
    path = screenshot_root()
    path.mkdir(parents=True, exist_ok=True)
    _used_screenshot_dirs.add(path)
    return path


@pytest.fixture()
def chromium(chromium_session: Browser) -> Browser:
    """The session's browser on a blank page with an empty console log, left on a blank page after the test."""
    chromium_session.driver.get("about:blank")
    chromium_session.console_errors()
    yield chromium_session
    chromium_session.driver.get("about:blank")


@pytest.fixture(scope="session")
def chromium_session(tmp_path_factory) -> Browser:
    """One headless Chromium for the session (each test's server is its own origin, so sessions do not mix).

    A missing chromium or chromedriver skips locally and fails in CI, like the services in tests/conftest.py.
    """
    chromium_path, driver_path = _binary("SC_CHROMIUM", "chromium"), _binary("SC_CHROMEDRIVER", "chromedriver")
    if chromium_path is None or driver_path is None:
        message = (
            f"chromium ({chromium_path}) or chromedriver ({driver_path}) is missing (apt-get install chromium "
            "chromium-driver, or set SC_CHROMIUM / SC_CHROMEDRIVER)"
        )
        if os.environ.get("CI"):
            pytest.fail(f"required browser missing in CI: {message}")
        pytest.skip(message)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.add_argument("--lang=zh-CN")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(30)
    yield Browser(driver)
    driver.quit()


def pytest_terminal_summary(terminalreporter) -> None:
    """Say where the screenshots went."""
    for path in sorted(_used_screenshot_dirs):
        terminalreporter.write_line(f"browser screenshots saved in {path}")
