"""The studio's safety (loopback, served paths, upload cap, folders) and its job runner."""

from __future__ import annotations

import http.client
import os
import threading
import time
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest

from conftest import FIXTURES
from ddspkit.errors import UserError
from ddspkit.studio.context import StudioSettings, host_warning
from ddspkit.studio.jobs import Finished, JobRunner, Progress, Waiting
from ddspkit.studio.workspace import Workspace
from studio_support import start_studio

pytest_plugins = ["studio_fixtures"]  # the studio fixture


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a listening TCP socket on ``port`` (from /proc, nothing sent)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not Path(table).exists():
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, port_hex = local.split(":")
            if state == "0A" and int(port_hex, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def test_the_studio_listens_on_loopback_only_by_default(studio):
    assert StudioSettings().host == "127.0.0.1"
    port = urlsplit(studio.url).port
    assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, and no IPv4/IPv6 wildcard
    assert host_warning("127.0.0.1") is None and host_warning("localhost") is None
    warning = host_warning("0.0.0.0")
    assert warning is not None and "other computers" in warning


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written (no client-side normalisation of '..' or '%2e')."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    connection.request("GET", path)
    response = connection.getresponse()
    return response.status, response.read()


def test_the_studio_serves_its_results_and_nothing_outside_its_folders(studio):
    from ddspkit import paths

    secret = paths.models_dir() / "secret.txt"
    secret.parent.mkdir(parents=True, exist_ok=True)
    secret.write_text("private weights")
    result = studio.studio.workspace.job_folder("test") / "result.txt"
    result.write_text("a result")
    results = studio.studio.workspace.results
    status, body = raw_get(studio.url, "/gradio_api/file=" + quote(str(result)))
    assert (status, body) == (200, b"a result")  # what the studio made is served

    escape = f"{result.parent}/../../../../models/secret.txt"
    refused = [
        "/gradio_api/file=" + quote(str(secret)),  # absolute path outside its folders
        "/gradio_api/file=/etc/passwd",
        "/gradio_api/file=" + quote(escape),  # ../ out of the results folder
        "/gradio_api/file=" + escape,
        "/gradio_api/file=" + escape.replace("..", "%2e%2e").replace("/", "%2f"),  # encoded
        "/gradio_api/file=" + escape.replace("..", "%252e%252e"),  # encoded twice
        "/gradio_api/file=../../../../../../etc/passwd",
        "/gradio_api/file=pyproject.toml",  # the working folder is not served either
        "/gradio_api/file=" + quote(str(results).upper() + "/../secret.txt"),
        "/gradio_api/file=" + quote(str(paths.home())),
    ]
    for path in refused:
        status, body = raw_get(studio.url, path)
        assert status in (403, 404), (path, status)
        assert b"private weights" not in body and b"root:" not in body and b"[project]" not in body


def test_an_upload_over_the_cap_is_refused_and_not_kept():
    running = start_studio(max_upload_mb=0.5)
    try:
        uploads = running.studio.workspace.uploads
        big = httpx.post(f"{running.url}/gradio_api/upload",
                         files={"files": ("hour.wav", b"\0" * 700_000, "audio/wav")}, timeout=30)
        assert big.status_code == 413
        assert not any(p.name == "hour.wav" for p in uploads.rglob("*"))
        small = httpx.post(f"{running.url}/gradio_api/upload",
                           files={"files": ("short.wav", b"\0" * 1000, "audio/wav")}, timeout=30)
        assert small.status_code == 200  # the cap, not uploads as such, refused the first
    finally:
        running.close()


def test_the_studio_keeps_its_files_in_ddspkits_cache_and_cleans_them(studio):
    from ddspkit import paths

    workspace = studio.studio.workspace
    assert workspace.root == paths.home() / "cache" / "studio"
    assert os.environ["GRADIO_TEMP_DIR"] == str(workspace.uploads)
    assert os.environ["GRADIO_ANALYTICS_ENABLED"] == "False"
    folder = workspace.job_folder("morph")
    assert folder.parent == workspace.results
    sent = httpx.post(f"{studio.url}/gradio_api/upload",
                      files={"files": ("take.wav", b"RIFF" + b"\0" * 100, "audio/wav")}, timeout=30)
    assert sent.status_code == 200
    (uploaded,) = [Path(p) for p in sent.json()]
    assert uploaded.parent.parent == workspace.uploads  # uploads land in ddspkit's cache too
    studio.close()
    assert not folder.exists() and not uploaded.exists()
    assert list(workspace.uploads.iterdir()) == [] and list(workspace.results.iterdir()) == []


def test_an_old_studios_leftovers_are_removed_when_one_opens(tmp_path):
    workspace = Workspace(tmp_path / "studio", max_age_s=3600)
    old = workspace.results / "20200101-000000-morph-dead"
    old.mkdir(parents=True)
    (old / "out.wav").write_bytes(b"x")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    recent = workspace.results / "recent"
    recent.mkdir()
    workspace.open()
    assert not old.exists() and recent.exists()


def test_upload_paths_in_messages_become_the_file_name(tmp_path):
    workspace = Workspace(tmp_path / "studio")
    upload = workspace.uploads / "3f9a0c" / "take [1].wav"
    assert workspace.readable(f"{upload}: cannot read audio") == "take [1].wav: cannot read audio"


def test_one_heavy_job_at_a_time_and_the_second_says_what_it_waits_for():
    runner = JobRunner(poll_s=0.02)
    spans: dict[str, tuple[float, float]] = {}
    release = threading.Event()

    def work(name):
        def run(job):
            start = time.monotonic()
            job.report("working", 0.5)
            if name == "first":
                release.wait(5)
            spans[name] = (start, time.monotonic())
            return name
        return run

    first = runner.run("first", work("first"))
    assert isinstance(next(first), Progress)
    second = runner.run("second", work("second"))
    waiting = next(second)
    assert isinstance(waiting, Waiting) and waiting.running == "first"
    withdrawn = runner.run("third", work("third"))
    assert isinstance(next(withdrawn), Waiting)
    assert runner.cancel("third")  # cancelled while waiting: it never starts
    assert [e for e in withdrawn][-1] == Finished(cancelled=True) and "third" not in spans
    release.set()
    assert [e for e in first if isinstance(e, Finished)][0].value == "first"
    assert [e for e in second if isinstance(e, Finished)][0].value == "second"
    assert spans["second"][0] >= spans["first"][1]


def test_cancel_stops_a_job_and_errors_come_as_one_line():
    runner = JobRunner(poll_s=0.02)

    def endless(job):
        while True:
            job.report("looping")
            time.sleep(0.01)

    events = runner.run("endless", endless)
    next(events)
    assert not runner.cancel("another page's job")  # only the job named is cancelled
    assert runner.cancel("endless")
    assert [e for e in events if isinstance(e, Finished)][0].cancelled
    assert not runner.busy

    def broken(job):
        raise ValueError("bad value\nsecond line")

    outcome = [e for e in runner.run("broken", broken) if isinstance(e, Finished)][0]
    assert outcome.error == "unexpected problem: ValueError: bad value (details on the terminal)"


def test_the_cli_imports_gradio_only_for_the_studio():
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", "import ddspkit.cli, sys; "
                             "print('gradio' in sys.modules)"], capture_output=True, text=True)
    assert result.stdout.strip() == "False"  # Gradio takes seconds to import: 'studio' only
    help_text = subprocess.run([sys.executable, "-m", "ddspkit.cli", "studio", "--help"],
                               capture_output=True, text=True).stdout
    for option in ("--port", "--host", "--no-browser"):
        assert option in help_text


def test_audio_longer_than_the_cap_is_refused_before_decoding(tmp_path):
    import numpy as np
    import soundfile as sf

    from ddspkit.studio.workspace import check_audio_upload

    long_take = tmp_path / "rehearsal.wav"
    sf.write(long_take, np.zeros(1000 * 60 * 21, np.int16), 1000)  # 21 minutes
    with pytest.raises(UserError, match=r"rehearsal.wav: 21 minutes long; the studio takes up to 20"):
        check_audio_upload(long_take, "input audio", 20)
    with pytest.raises(UserError, match="no input audio"):
        check_audio_upload(None, "input audio", 20)


def test_instruments_tab_exports_and_imports_through_the_core(studio):
    from ddspkit.studio.instruments import export_model, import_model
    from ddspkit.studio.jobs import Job
    from ddspkit.studio.models import choices

    key = dict(choices())["Cello (bundled)"]
    exported = export_model(Job("export"), studio.studio, key, "DDSP-VST plugin (.tflite)", False)
    path = Path(exported.outputs[0]["value"])
    assert path.parent.parent == studio.studio.workspace.results and path.name == "Cello.tflite"
    assert "passes the plugin's checks" in exported.message
    imported = import_model(Job("import"), str(path), "Cello VST")
    assert "imported Cello.tflite as 'Cello VST'" in imported.message
    assert "Cello VST (yours, DDSP-VST)" in dict(choices())
    with pytest.raises(UserError, match="not a .tflite file"):
        import_model(Job("import"), str(path.with_suffix(".wav")), None)


def test_instruments_tab_installs_into_the_plugin_folder_and_offers_a_copy(studio, tmp_path, monkeypatch):
    from ddspkit.studio.instruments import export_model
    from ddspkit.studio.jobs import Job
    from ddspkit.studio.models import choices

    plugin = tmp_path / "Models"
    monkeypatch.setenv("DDSPKIT_VST_MODELS_DIR", str(plugin))
    key = dict(choices())["Cello (bundled)"]
    with pytest.raises(UserError, match=r"^'install into the plugin's model folder' is for the DDSP-VST "):
        export_model(Job("export"), studio.studio, key, "ONNX decoder step (.onnx)", True)
    exported = export_model(Job("export"), studio.studio, key, "DDSP-VST plugin (.tflite)", True)
    download = Path(exported.outputs[0]["value"])
    assert download.parent.parent == studio.studio.workspace.results
    assert download.read_bytes() == (plugin / "Cello.tflite").read_bytes()
    assert f"installed into the plugin's model folder {plugin}" in exported.message


def route_requests(running) -> list[tuple[str, str]]:
    """(method, path) for every route of the studio's server, parameters filled in."""
    import re

    from starlette.routing import Mount, Route, WebSocketRoute

    found = []
    routes = list(running.page.server_app.routes)
    while routes:
        route = routes.pop(0)
        if hasattr(route, "original_router"):  # FastAPI's included router (/gradio_api/...)
            routes += route.original_router.routes
            continue
        path = re.sub(r"\{[^}]+\}", "x", getattr(route, "path", "") or "/")
        if isinstance(route, Route):
            found += [(method, path) for method in sorted(route.methods or {"GET"}) if method != "HEAD"]
        elif isinstance(route, Mount):
            found.append(("GET", path.rstrip("/") + "/x"))
        elif isinstance(route, WebSocketRoute):
            found.append(("GET", path))
    return found


def status_of(client: httpx.Client, method: str, url: str, headers: dict[str, str]) -> int | None:
    """The status of the studio's refusal of a request, None if it went through to Gradio
    (the body is not waited for: some routes stream)."""
    from ddspkit.studio.guard import REFUSED_HEADER

    try:
        with client.stream(method, url, headers=headers,
                           content=b"{}" if method in ("POST", "PUT", "PATCH") else None) as reply:
            return reply.status_code if REFUSED_HEADER in reply.headers else None
    except httpx.ReadTimeout:
        return None  # answered nothing in time: not refused


def test_a_foreign_host_or_origin_is_refused_on_every_route(studio):
    """DNS rebinding: a page of another site, its name re-pointed at 127.0.0.1, sends its own
    name as Host; a cross-site request carries a foreign Origin. Both are refused on every
    route (the page, files, uploads, the API's call endpoints); this computer's own names work."""
    port = urlsplit(studio.url).port
    requests = route_requests(studio)
    paths = {path for _, path in requests}
    for expected in ("/", "/gradio_api/upload", "/gradio_api/queue/join", "/gradio_api/call/x",
                     "/gradio_api/file=x", "/config"):
        assert any(p.startswith(expected) for p in paths), (expected, sorted(paths))
    client = httpx.Client(timeout=httpx.Timeout(10, read=0.5))  # a refusal is immediate
    for method, path in requests:
        url = studio.url + path
        assert status_of(client, method, url, {"Host": "evil.example"}) == 421, (method, path)
        assert status_of(client, method, url, {"Host": f"evil.example:{port}"}) == 421, (method, path)
        for origin in ("http://evil.example", f"http://evil.example:{port}", "null",
                       f"http://127.0.0.1:{port + 1}"):
            assert status_of(client, method, url, {"Origin": origin}) == 403, (method, path, origin)
        for host in (f"127.0.0.1:{port}", f"localhost:{port}", f"[::1]:{port}"):
            assert status_of(client, method, url, {"Host": host}) is None, (method, path, host)
        assert status_of(client, method, url, {"Origin": studio.url}) is None, (method, path)
    client.close()
    refused = httpx.get(studio.url + "/", headers={"Host": "evil.example"})
    assert "refused" in refused.text and "evil.example" in refused.text  # a short reason
    same_site = httpx.post(studio.url + "/gradio_api/upload", headers={"Origin": studio.url},
                           files={"files": ("take.wav", b"RIFF", "audio/wav")})
    assert same_site.status_code == 200  # the page's own requests carry its own origin
    foreign = httpx.post(studio.url + "/gradio_api/upload", headers={"Origin": "http://evil.example"},
                         files={"files": ("take.wav", b"RIFF", "audio/wav")})
    assert foreign.status_code == 403 and "another site" in foreign.text


def test_the_host_allow_list_names_loopback_and_the_address_given():
    from ddspkit.studio.guard import allowed_hosts, refusal

    hosts = allowed_hosts("192.168.1.20")
    assert {"127.0.0.1", "localhost", "::1", "192.168.1.20"} <= hosts and "evil.example" not in hosts

    def check(host, origin=None):
        headers = [(b"host", host.encode())] + ([(b"origin", origin.encode())] if origin else [])
        return None if refusal(headers, hosts) is None else refusal(headers, hosts)[0]

    assert check("192.168.1.20:7860") is None and check("LOCALHOST:7860") is None
    assert check("192.168.1.20:7860", "http://192.168.1.20:7860") is None
    assert check("evil.example:7860") == 421 and check("") == 421 and check("[bad") == 421
    assert check("127.0.0.1:7860", "https://evil.example") == 403
    assert check("127.0.0.1:7860", "http://127.0.0.1:8000") == 403  # another local server's page


def test_the_steps_field_empty_means_the_recipes_and_a_bad_value_says_why():
    from ddspkit.studio.train import parse_steps

    assert parse_steps("") is None and parse_steps("  ") is None and parse_steps(None) is None
    assert parse_steps("1,000") == 1000 and parse_steps("12") == 12 and parse_steps(300.0) == 300
    for bad in ("0", "-5", "2.5", "many"):
        with pytest.raises(UserError, match=f"steps '{bad}'"):
            parse_steps(bad)


def test_a_handlers_error_shows_as_one_line_and_its_traceback_goes_to_the_terminal(tmp_path, capsys):
    import gradio as gr

    from ddspkit.studio.ui import page_errors

    workspace = Workspace(tmp_path / "studio")

    @page_errors(workspace, n_more=1)
    def broken(value):
        raise KeyError("lost")

    line, other = broken(1)
    assert ('status-error">error: unexpected problem: KeyError: &#x27;lost&#x27; (details on the '
            'terminal)') in line
    assert isinstance(other, type(gr.skip()))  # the other outputs stay as they are
    assert "Traceback" in capsys.readouterr().err  # for whoever started the studio

    @page_errors(workspace)
    def refused():
        raise UserError(f"{workspace.uploads}/a1b2/take.wav: cannot read audio")

    assert refused() == '<div class="studio-status status-error">error: take.wav: cannot read audio</div>'


def test_a_clean_stop_removes_every_copy_gradio_made(tmp_path):
    workspace = Workspace(tmp_path / "studio").open()
    earlier = workspace.uploads / "another-studio"  # there before: not this studio's
    earlier.mkdir()
    (earlier / "keep.wav").write_bytes(b"x")
    workspace._uploads_before.add(earlier.name)
    copy = workspace.uploads / "0f3c9d" / "song-Cello.wav"  # Gradio's copy of a returned file
    copy.parent.mkdir()
    copy.write_bytes(b"\0" * 1000)
    workspace.close()
    assert not copy.parent.exists() and (earlier / "keep.wav").exists()


def test_morph_warns_about_nan_samples_and_tells_the_loudness_auto_adjust_applied(studio, tmp_path):
    import numpy as np
    import soundfile as sf

    from ddspkit.config import SAMPLE_RATE_HZ
    from ddspkit.render.signals import sung_phrase
    from ddspkit.studio.jobs import Job
    from ddspkit.studio.models import choices
    from ddspkit.studio.morph import morph

    loud = np.clip(sung_phrase()[: 3 * SAMPLE_RATE_HZ] * 8, -1, 1).astype(np.float32)
    loud[1000:1010] = np.nan
    path = tmp_path / "loud take.wav"
    sf.write(path, loud, SAMPLE_RATE_HZ, subtype="FLOAT")
    key = dict(choices())["Cello (bundled)"]
    result = morph(Job("morph"), studio.studio, str(path), key, "monophonic", 0, 0, True, True)
    assert "loud take.wav: 10 NaN or infinite sample(s) were replaced by silence" in result.warnings[0]
    auto_db = float(result.message.split("loudness auto ")[1].split(" dB")[0])
    assert auto_db <= -3, result.message  # a loud take is brought down, and the line says so
    as_is = morph(Job("morph"), studio.studio, str(path), key, "monophonic", 0, -6, False, True)
    assert as_is.message.endswith("loudness as is, then -6 dB"), as_is.message


def test_play_warns_about_notes_outside_the_instruments_range():
    from ddspkit.io.models import load_model
    from ddspkit.midi import Note
    from ddspkit.studio.play import range_warnings

    cello = load_model("Cello").info
    inside = [Note(48 + i, i * 0.5, i * 0.5 + 0.4, 90) for i in range(8)]  # C3 up
    assert range_warnings(inside, cello) == []
    high = inside + [Note(96, 5.0, 5.5, 90), Note(100, 6.0, 6.5, 90)]  # C7, E7
    (warning,) = range_warnings(high, cello)
    assert warning.startswith("2 of 10 notes lie outside Cello's range") and "2 above" in warning


def test_the_instruments_tab_refuses_name_clashes_and_replaces_only_when_asked(studio):
    from ddspkit.studio.instruments import REPLACE_LABEL, delete_model, import_model, rename_model
    from ddspkit.studio.jobs import Job
    from ddspkit.studio.models import choices

    tflite = str(FIXTURES / "CelloNotebook.tflite")
    with pytest.raises(UserError, match="a bundled model has this name"):
        import_model(Job("import"), tflite, "Cello")
    first = import_model(Job("import"), tflite, "Mine")
    assert first.message.endswith("it is in every instrument list")
    assert "Mine (yours, DDSP-VST)" in dict(choices())
    with pytest.raises(UserError, match=f"use '{REPLACE_LABEL}' to replace it"):
        import_model(Job("import"), tflite, "Mine")
    assert "as 'Mine'" in import_model(Job("import"), tflite, "Mine", replace=True).message

    key = dict(choices())["Mine (yours, DDSP-VST)"]
    assert "renamed &#x27;Mine&#x27; to &#x27;Ours&#x27;" in rename_model(studio.studio, key, "Ours")
    key = dict(choices())["Ours (yours, DDSP-VST)"]
    with pytest.raises(UserError, match="tick 'yes, delete'"):
        delete_model(studio.studio, key, False)
    assert "deleted &#x27;Ours&#x27; (Ours.tflite)" in delete_model(studio.studio, key, True)
    with pytest.raises(UserError, match="only your own models"):
        delete_model(studio.studio, dict(choices())["Cello (bundled)"], True)
