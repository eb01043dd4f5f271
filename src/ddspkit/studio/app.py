"""The studio's page (four tabs) and how it is served: on this computer only, offline.

Safety settings (the README's section "The studio" says them for users): loopback unless told otherwise,
no share link, no analytics, an upload size cap, Gradio's temporary files in ddspkit's cache
(cleaned), only the studio's results folder served besides Gradio's own uploads, one
heavy job at a time, and requests answered only for the studio's own address (a Host
allow-list and an Origin check: :mod:`ddspkit.studio.guard`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import gradio as gr
from starlette.middleware import Middleware

from ddspkit.errors import UserError
from ddspkit.studio import instruments, models, morph, play, train
from ddspkit.studio.context import Studio, StudioSettings
from ddspkit.studio.guard import HostGuard
from ddspkit.studio.ui import CSS
from ddspkit.studio.workspace import Workspace

# Gradio's own clean-up of its copies: every hour, what is older than three hours.
DELETE_CACHE = (3600, 3 * 3600)
TITLE = "ddspkit studio"


def configure_environment(workspace: Workspace) -> None:
    """Point Gradio at the studio's folders and keep it off the network. Must run before
    the page is built: Gradio reads these when it creates components."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    os.environ["GRADIO_TEMP_DIR"] = str(workspace.uploads)
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"


def create_app(studio: Studio) -> gr.Blocks:
    """The page: Morph, Play, Train and Instruments tabs over one job runner."""
    configure_environment(studio.workspace)
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=DELETE_CACHE) as page:
        gr.HTML(f"<h2 style='margin:0'>{TITLE}</h2>")
        lists = []
        with gr.Tabs(elem_id="tabs"):
            with gr.Tab("Morph", id="morph", elem_id="tab_morph") as morph_tab:
                lists.append((morph_tab, morph.build(studio)))
            with gr.Tab("Play", id="play", elem_id="tab_play") as play_tab:
                lists.append((play_tab, play.build(studio)))
            with gr.Tab("Train", id="train", elem_id="tab_train"):
                train.build(studio, page)
            with gr.Tab("Instruments", id="instruments", elem_id="tab_instruments") as lib_tab:
                lists.append((lib_tab, instruments.build(studio, lib_tab)))
        # A model trained or imported since the page opened appears in every list.
        for tab, dropdown in lists:
            tab.select(models.refreshed, dropdown, dropdown, queue=False, show_progress="hidden")
            page.load(models.refreshed, dropdown, dropdown, queue=False, show_progress="hidden")
    page.queue(default_concurrency_limit=1, max_size=studio.settings.queue_size)
    return page


@dataclass
class RunningStudio:
    """A studio being served: its address, and how to stop it."""

    page: gr.Blocks
    studio: Studio
    url: str

    def close(self) -> None:
        self.page.close()
        self.studio.workspace.close()


def start(settings: StudioSettings | None = None, open_browser: bool = False,
          workspace: Workspace | None = None) -> RunningStudio:
    """Build the page and serve it in the background. Raises UserError if the port is taken."""
    settings = settings or StudioSettings()
    studio = Studio(settings, (workspace or Workspace()).open())
    page = create_app(studio)
    # Every handler turns its errors into its status line (ui.page_errors, ui.stream_job);
    # show_error is the backstop: anything else still shows on the page, never vanishes.
    try:
        page.launch(
            server_name=settings.host, server_port=settings.port, share=False,
            inbrowser=open_browser, prevent_thread_lock=True, quiet=True, show_error=True,
            max_file_size=int(settings.max_upload_mb * 1024 * 1024),
            allowed_paths=[str(studio.workspace.results)],
            ssr_mode=False, mcp_server=False, pwa=False, enable_monitoring=False,
            footer_links=["settings"], theme=gr.themes.Soft(), css=CSS,
            app_kwargs={"middleware": [Middleware(HostGuard, listen_host=settings.host)]},
        )
    except OSError as exc:
        studio.workspace.close()
        raise UserError(f"cannot listen on {settings.host}:{settings.port} ({exc}); another "
                        "program may use the port: choose another with --port") from None
    return RunningStudio(page, studio, page.local_url.rstrip("/"))
