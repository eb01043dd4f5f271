#!/usr/bin/env bash
# Rebuild the bundled default instrument (Cello) from scratch, offline:
#   1. render about 11 minutes of Bach chorale bass and tenor lines with FluidSynth's
#      real-sample cello (Debian: fluidsynth fluid-soundfont-gm), split by piece;
#   2. train it with ddspkit's own `train` (the default 'fast' recipe);
#   3. store it, in float16, as src/ddspkit/assets/Cello.safetensors.
# About 20 minutes on a 2-core CPU. Needs the test extras (music21, pretty_midi).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src
$PY scripts/make_instrument_data.py cello --minutes 11 --heldout-minutes 1.5 -o data/cello
DDSPKIT_HOME=build/zoo $PY -m ddspkit.cli train data/cello/train --name Cello --recipe fast "$@"
$PY scripts/bundle_model.py build/zoo/models/Cello.safetensors
