"""The browser studio (``ddspkit studio``): morph, play, train and export from a local page.

Gradio is imported only when the studio starts (it takes seconds), so ``ddspkit --help`` and
the other commands stay fast; it is the optional extra ``ddspkit[studio]``.
"""

from __future__ import annotations

import signal

from ddspkit.errors import UserError
from ddspkit.studio.context import StudioSettings, host_warning

INSTALL_HINT = "pip install 'ddspkit[studio]'"


def serve(host: str = "127.0.0.1", port: int = 7860, open_browser: bool = True) -> None:
    """Serve the studio until Ctrl-C, printing its address (and a warning beyond loopback)."""
    from ddspkit import terminal

    warning = host_warning(host)
    if warning:
        terminal.warning(warning)
    try:
        import gradio  # noqa: F401
    except ImportError:
        raise UserError(f"the studio needs Gradio: {INSTALL_HINT}") from None
    from ddspkit.studio.app import start

    running = start(StudioSettings(host=host, port=port), open_browser=open_browser)
    terminal.out.print(f"ddspkit studio: {running.url} (Ctrl-C stops it; files in "
                       f"{running.studio.workspace.root})")
    previous = signal.signal(signal.SIGTERM, _interrupt)  # a plain kill cleans up as Ctrl-C does
    try:
        running.page.block_thread()  # returns after Ctrl-C, having closed the server
    finally:
        signal.signal(signal.SIGTERM, previous)
        running.close()
        terminal.out.print("ddspkit studio: stopped")


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


__all__ = ["serve", "StudioSettings", "host_warning"]
