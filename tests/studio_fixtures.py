"""The studio's fixtures: a studio on a free loopback port, a guard on outbound connections,
and Debian's headless Chromium (`apt-get install chromium`; .ci/run installs it): Playwright's
own browser download needs the internet. Test modules load them with ``pytest_plugins``.
"""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from studio_support import CHROMIUM, start_studio


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
