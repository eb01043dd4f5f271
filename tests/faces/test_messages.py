"""Every message prints exactly what it says: brackets, percent signs, braces, dollars, accents."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import soundfile as sf
from test_cli import assert_one_line_error, ddspkit

from conftest import FIXTURES
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.render.signals import sung_phrase


def ddspkit_without(modules: list[str], *args: str) -> subprocess.CompletedProcess:
    """The CLI in a process where importing ``modules`` fails, as when an extra is missing."""
    code = ("import sys\n"
            f"for name in {modules!r}: sys.modules[name] = None  # import raises ImportError\n"
            f"sys.argv = ['ddspkit', *{list(args)!r}]\n"
            "from ddspkit.cli import main\nmain()\n")
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=os.environ.copy(), timeout=300)


def test_errors_name_a_bracketed_file_intact(tmp_path):
    missing = tmp_path / "cello [final].wav"
    assert_one_line_error(ddspkit("transfer", str(missing), "-m", "Cello", "-o", "x.wav"),
                          "cello [final].wav", "no such file")
    missing.write_bytes(b"RIFF not really a wave file")
    assert_one_line_error(ddspkit("transfer", str(missing), "-m", "Cello", "-o", "x.wav"),
                          "cello [final].wav", "cannot read audio")
    assert_one_line_error(ddspkit("render", str(tmp_path / "song [v2] 100%.mid"), "-m", "Cello",
                                  "-o", "x.wav"), "song [v2] 100%.mid")


def test_missing_extras_name_the_extra_to_install(tmp_path):
    result = ddspkit_without(["onnx"], "export", "Cello", "--format", "onnx",
                             "-o", str(tmp_path / "c.onnx"))
    assert_one_line_error(result, "pip install 'ddspkit[onnx]'")
    sf.write(tmp_path / "in.wav", sung_phrase()[:SAMPLE_RATE_HZ], SAMPLE_RATE_HZ)
    result = ddspkit_without(["ai_edge_litert", "tflite_runtime"], "transfer",
                             str(tmp_path / "in.wav"), "-m", str(FIXTURES / "CelloNotebook.tflite"),
                             "-o", str(tmp_path / "out.wav"))
    assert_one_line_error(result, "pip install 'ddspkit[vst]'")
    assert not (tmp_path / "out.wav").exists()


def test_transfer_prints_bracketed_paths_intact(tmp_path):
    source, target = tmp_path / "a [b].wav", tmp_path / "c [d] {e} 50% $1 :cd:.wav"
    sf.write(source, sung_phrase()[: 2 * SAMPLE_RATE_HZ], SAMPLE_RATE_HZ)
    result = ddspkit("transfer", str(source), "-m", "Cello", "-o", str(target),
                     "--plot", str(tmp_path / "f [g] $2.png"))
    assert result.returncode == 0, result.stderr
    assert f"a [b].wav -> {target}" in result.stdout
    assert "plot: " + str(tmp_path / "f [g] $2.png") in result.stdout
    assert target.is_file() and (tmp_path / "f [g] $2.png").is_file()


def test_prepare_lists_files_by_their_names(tmp_path):
    names = ["take [x].wav", "take [y] 100%.wav", "été {2}.wav", "violoncelle $3.wav",
             "take :cd:.wav", "take [z].wav", "take [w].wav"]
    for i, name in enumerate(names):
        sf.write(tmp_path / name, sung_phrase(transpose=-i, seed=i), SAMPLE_RATE_HZ)
    (tmp_path / "broken [1].wav").write_bytes(b"RIFF nothing")
    result = ddspkit("prepare", str(tmp_path))
    assert result.returncode == 0, result.stderr
    for name in names:
        assert name in result.stdout, (name, result.stdout)
    assert "broken [1].wav" in result.stderr and "skipped:" in result.stderr


def test_plot_titles_keep_dollars_and_brackets(tmp_path):
    import matplotlib

    from ddspkit.render.plot import figure, literal, save_figure

    matplotlib.rcParams["svg.fonttype"] = "none"  # keep text as text in the SVG
    try:
        fig, axes = figure(1)
        fig.suptitle(literal("take $1 [x] and $2.wav"))
        axes.plot([0, 1], [0, 1], label=literal("_hidden [model]"))
        axes.legend()
        svg = save_figure(fig, tmp_path / "t.svg").read_text()
    finally:
        matplotlib.rcParams["svg.fonttype"] = "path"
    assert "take $1 [x] and $2.wav" in svg
    assert "_hidden [model]" in svg  # a leading underscore would drop it from the legend


def test_models_table_keeps_bracketed_model_names(tmp_path, isolated_home):
    from ddspkit.io.modelfile import save_model
    from ddspkit.io.models import load_model, user_model_path

    cello = load_model("Cello")
    cello.info.name = "Cello [take 2]"
    save_model(user_model_path("Cello [take 2]"), cello.instrument, cello.info)
    result = ddspkit("models")
    assert result.returncode == 0, result.stderr
    assert "Cello [take 2]" in result.stdout
    assert np.isfinite(cello.info.statistics.mean_pitch_midi)
