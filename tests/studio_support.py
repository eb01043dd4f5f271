"""What the studio's tests share: a studio on a free loopback port, and a headless Chromium.

Chromium is Debian's (`apt-get install chromium`; .ci/run installs it): Playwright's own
browser download needs the internet.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest
import soundfile as sf

CHROMIUM = "/usr/bin/chromium"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_studio(**settings):
    """A studio serving in this process on a free loopback port (close() it)."""
    from ddspkit.studio.app import start
    from ddspkit.studio.context import StudioSettings

    return start(StudioSettings(port=free_port(), **settings))


@pytest.fixture
def outbound(monkeypatch):
    """Connections (and name look-ups) this process tries beyond loopback: refused and listed."""
    attempts: list = []
    connect, getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def is_local(host) -> bool:
        try:
            return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
        except ValueError:
            return host in ("localhost", "")

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            attempts.append(address)
            raise OSError(f"the test refuses a connection to {address}")
        return connect(self, address)

    def guarded_getaddrinfo(host, *args, **kwargs):
        if host is not None and not is_local(host if isinstance(host, str) else host.decode()):
            attempts.append(host)
            raise socket.gaierror(f"the test refuses to look up {host}")
        return getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    return attempts


@pytest.fixture
def studio(outbound):
    running = start_studio()
    yield running
    running.close()


@pytest.fixture(scope="session")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def chromium(playwright_driver):
    browser = playwright_driver.chromium.launch(executable_path=CHROMIUM)
    yield browser
    browser.close()


@pytest.fixture
def page(chromium, studio):
    """A fresh page on the studio; every request it makes is recorded in ``page.requests``."""
    context = chromium.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    tab = context.new_page()
    tab.set_default_timeout(90_000)
    tab.requests = []
    tab.on("request", lambda request: tab.requests.append(request.url))
    tab.goto(studio.url)
    tab.wait_for_selector("#morph_run")
    yield tab
    context.close()


def upload(page, selector: str, path: Path) -> None:
    """Put a file into a component's hidden file input and wait until it is uploaded (a file
    already there is cleared first, with the component's own clear button)."""
    if page.locator(f"{selector} input[type=file]").count() == 0:
        page.locator(f"{selector} button[aria-label='Clear']").first.click()
    with page.expect_response(lambda r: "/gradio_api/upload" in r.url) as response:
        page.locator(f"{selector} input[type=file]").set_input_files(str(path))
    assert response.value.status == 200
    time.sleep(0.3)  # the component takes the uploaded file's address


def press(page, button: str, status: str) -> tuple[str, str]:
    """Click ``button``, then wait until the ``status`` line gives a new verdict (ok or error);
    returns (kind, text)."""
    page.eval_on_selector_all(f"{status} .studio-status",
                              "lines => lines.forEach(line => line.classList.add('seen'))")
    page.click(button)
    line = page.locator(f"{status} .status-ok:not(.seen), {status} .status-error:not(.seen)").first
    line.wait_for()
    kind = "ok" if "status-ok" in (line.get_attribute("class") or "") else "error"
    return kind, page.inner_text(status)


def download(page, selector: str, folder: Path) -> Path:
    """Fetch the file behind a gr.File's link, as the browser would download it."""
    link = page.locator(f"{selector} a[href*='/gradio_api/file=']").first
    link.wait_for()
    response = page.request.get(link.get_attribute("href"))
    assert response.status == 200
    path = folder / unquote(link.get_attribute("href").rsplit("/", 1)[-1])
    path.write_bytes(response.body())
    return path


def player(page, selector: str) -> str:
    """Wait until an audio component holds a playable sound; returns its download address."""
    page.locator(f"{selector} audio[src]").first.wait_for(state="attached")
    link = page.locator(f"{selector} a[href*='/gradio_api/file=']").first
    link.wait_for(state="attached")
    return link.get_attribute("href")


def write_tone(path: Path, seconds: float, rate_hz: int = 16000) -> Path:
    t = np.arange(int(seconds * rate_hz)) / rate_hz
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), rate_hz)
    return path


def only_local(requests: list[str], url: str) -> list[str]:
    """The requests that went anywhere but the studio (data: and blob: URLs stay in the page)."""
    return [r for r in requests if not r.startswith((url, "data:", "blob:"))]
