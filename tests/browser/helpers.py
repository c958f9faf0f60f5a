"""Helpers for browser tests: the platform served by a real uvicorn on 127.0.0.1, and a thin Selenium wrapper."""

from __future__ import annotations

import base64
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import uvicorn

from tests.support.ports import free_port
from tests.support.services import wait_until

READY_STATES = ("yes", "forbidden")


class LiveServer:
    """The app under uvicorn in a thread (lifespan on, so ingest and the live hub run), on a free local port."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.port = free_port()
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="ui-test-server", daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started, 20, message="uvicorn started")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(20)


class Browser:
    """Selenium's Chrome driver with the few moves the tests make."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver
        self.base = ""

    def open(self, path: str, wait: bool = True) -> None:
        """Load a page of the current server and (by default) wait until its script has run."""
        self.driver.get(self.base + path)
        if wait:
            self.wait_ready()

    def wait_ready(self, timeout: float = 20) -> str:
        """Wait for app.js to finish (body data-ready 'yes' or 'forbidden'); returns which."""
        return self.wait(
            lambda: (
                self.driver.execute_script("return document.body && document.body.dataset.ready") in READY_STATES
                and self.driver.execute_script("return document.body.dataset.ready")
            ),
            timeout,
            "page ready",
        )

    def wait(self, condition: Callable[[], Any], timeout: float = 20, message: str = "condition") -> Any:
        """Poll a condition (exceptions count as not yet) until it is truthy; fail after the timeout."""
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            try:
                value = condition()
                if value:
                    return value
            except Exception as err:  # noqa: BLE001 - the page may be mid-navigation
                last_error = err
            time.sleep(0.1)
        raise AssertionError(f"timed out waiting for {message} at {self.driver.current_url} ({last_error})")

    def login(self, username: str, password: str, lang: str | None = None) -> None:
        """Sign in through the login form and wait for the role's home page."""
        self.open("/ui/login" + (f"?lang={lang}" if lang else ""), wait=False)
        self.driver.execute_script("sessionStorage.clear()")
        self.wait(lambda: self.css("#login-form"), message="login form")
        self.css("#login-username").send_keys(username)
        self.css("#login-password").send_keys(password)
        self.css("#login-submit").click()
        self.wait(lambda: "/ui/login" not in self.driver.current_url, message="leaving the login page")
        self.wait_ready()

    def css(self, selector: str) -> Any:
        """The first element matching a CSS selector (raises when there is none)."""
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, selector)

    def all(self, selector: str) -> list[Any]:
        """Every element matching a CSS selector."""
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, selector)

    def text(self, selector: str = "body") -> str:
        """Visible text of an element."""
        return self.css(selector).text

    def nav(self) -> list[str]:
        """Hrefs of the navigation links left for the signed-in role."""
        return [link.get_attribute("pathname") for link in self.all(".sc-nav a")]

    def fill(self, selector: str, value: str) -> None:
        """Clear a field and type a value."""
        field = self.css(selector)
        field.clear()
        field.send_keys(value)

    def accept_confirm(self) -> None:
        """Accept the window.confirm dialog that is open."""
        self.wait(lambda: self.driver.switch_to.alert, 5, "confirm dialog").accept()

    def shot(self, folder: Path, name: str) -> Path:
        """Save a screenshot of the whole page (beyond the window, through the DevTools protocol) as folder/name.png."""
        width, height = self.driver.execute_script(
            "const e = document.documentElement; return [e.scrollWidth, e.scrollHeight]"
        )
        clip = {"x": 0, "y": 0, "width": int(width), "height": min(int(height), 6000), "scale": 1}
        shot = self.driver.execute_cdp_cmd(
            "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip}
        )
        path = folder / f"{name}.png"
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def console_errors(self) -> list[str]:
        """Console errors since the last call (CSP violations and script errors show up here)."""
        return [entry["message"] for entry in self.driver.get_log("browser") if entry["level"] == "SEVERE"]
