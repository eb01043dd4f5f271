"""What the studio's tests share: starting a studio on a free loopback port, and driving
its page (fixtures in studio_fixtures.py)."""

from __future__ import annotations

import socket
import time
from pathlib import Path
from urllib.parse import unquote

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


def only_local(requests: list[str], url: str) -> list[str]:
    """The requests that went anywhere but the studio (data: and blob: URLs stay in the page)."""
    return [r for r in requests if not r.startswith((url, "data:", "blob:"))]
