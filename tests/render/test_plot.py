"""Every figure draws on silence, a constant signal and (almost) empty input: a figure that
fails must never take the audio with it (transfer --plot, compare, the notebook, the studio)."""

from __future__ import annotations

import numpy as np
import pytest

from ddspkit.analysis.features import extract_features
from ddspkit.config import SAMPLE_RATE_HZ
from ddspkit.render.transfer import Adjustment, TransferResult

PNG = b"\x89PNG\r\n\x1a\n"
SIGNALS = {
    "silence": np.zeros(2 * SAMPLE_RATE_HZ, np.float32),
    "constant": np.full(2 * SAMPLE_RATE_HZ, 0.25, np.float32),
    "a few samples": np.zeros(10, np.float32),
    "empty": np.zeros(0, np.float32),
}


def transfer_result(audio: np.ndarray) -> TransferResult:
    features = extract_features(np.pad(audio, (0, max(0, 1024 - len(audio)))))
    return TransferResult(audio, SAMPLE_RATE_HZ, features, features, Adjustment())


@pytest.mark.parametrize("kind", list(SIGNALS))
def test_the_transfer_and_polyphonic_figures_draw_any_signal(kind, tmp_path):
    from ddspkit.render.plot import plot_polyphonic, plot_transfer

    audio = SIGNALS[kind]
    path = plot_transfer(transfer_result(audio), tmp_path / "transfer.png", audio, title=kind)
    assert path.read_bytes()[:8] == PNG
    path = plot_polyphonic(audio, audio, SAMPLE_RATE_HZ, [], tmp_path / "poly.png", title=kind)
    assert path.read_bytes()[:8] == PNG


@pytest.mark.parametrize("kind", list(SIGNALS))
def test_the_rendering_and_comparison_figures_draw_any_signal(kind, tmp_path):
    from ddspkit.render.compare import _monophonic_figure, _polyphonic_figure
    from ddspkit.render.midi import RenderResult
    from ddspkit.render.plot import plot_render

    audio = SIGNALS[kind]
    n_frames = len(audio) // 320
    curves = [(np.zeros(n_frames, np.float32), np.full(n_frames, -120.0, np.float32))]
    render = RenderResult(audio, SAMPLE_RATE_HZ, [("melody", 0)], curves)
    assert plot_render(render, [], tmp_path / "render.png").read_bytes()[:8] == PNG
    features = extract_features(np.pad(audio, (0, max(0, 1024 - len(audio)))))
    _monophonic_figure(audio, audio, "Cello", (features, features), tmp_path / "mono.png")
    _polyphonic_figure(audio, audio, "Cello", [], {"ours": [], "sampled": []}, (features, features),
                       tmp_path / "poly.png")
    assert (tmp_path / "mono.png").read_bytes()[:8] == PNG == (tmp_path / "poly.png").read_bytes()[:8]


@pytest.mark.parametrize("kind", list(SIGNALS))
def test_the_expression_figure_draws_any_signal(kind, tmp_path):
    from ddspkit.analysis.measure import measure_expression
    from ddspkit.io.models import bundled_model
    from ddspkit.midi import Note
    from ddspkit.render.plot import plot_expression

    measured = measure_expression(SIGNALS[kind], [Note(60, 0.2, 1.5, 90)])
    for profile in (None, bundled_model("Cello").expression_profile):  # the literature's, learned
        path = plot_expression(profile, {"Cello $1": measured, "_sampled": measured},
                               tmp_path / "expression.png", title=kind)
        assert path.read_bytes()[:8] == PNG
    assert plot_expression(None, {}, tmp_path / "alone.png").read_bytes()[:8] == PNG  # polyphony


def test_the_loss_figure_draws_without_any_step(tmp_path):
    from ddspkit.render.plot import loss_figure, png_bytes

    assert png_bytes(loss_figure([], [], []))[:8] == PNG
    assert png_bytes(loss_figure([{"step": 1, "validation_loss": float("nan")}], [1], [0.0]))[:8] == PNG


def test_a_silent_spectrogram_uses_a_sane_colour_scale():
    from ddspkit.render.plot import SPECTROGRAM_FLOOR_DB, figure, spectrogram

    fig, ax = figure(1)
    spectrogram(ax, SIGNALS["silence"], "silence")
    low, high = ax.get_images()[0].get_clim()
    assert low == SPECTROGRAM_FLOOR_DB and high >= low + 60  # silence: all at the floor
    fig.clf()
