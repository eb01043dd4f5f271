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
