#!/usr/bin/env bash
# Rebuild one bundled instrument offline (each model's provenance holds its exact command):
#   scripts/build_model.sh cello Cello --from scratch          (violin Violin, flute Flute, ...)
#   scripts/build_model.sh clarinet Clarinet --steps 2000 --from Flute
# 1. render ~11 minutes of music21 melodies with FluidSynth's real-sample instrument
#    (Debian: fluidsynth fluid-soundfont-gm), training and held-out pieces kept apart;
# 2. train with ddspkit's own `train` (default recipe; extra arguments go to `ddspkit train`),
#    from random weights unless --from names a model to fine-tune ('auto': the nearest one);
# 3. store it, in float16, as src/ddspkit/assets/<Name>.safetensors.
# About 20 minutes for 4,000 steps on a 2-core CPU. Needs the test extras (music21, pretty_midi).
set -euo pipefail
cd "$(dirname "$0")/.."
instrument=$1 name=$2
shift 2
start=(--from scratch)  # as the first four bundled models were built
for arg in "$@"; do [ "$arg" = --from ] && start=(); done
PY=${PYTHON:-.venv/bin/python}
export PYTHONPATH=src
$PY scripts/make_instrument_data.py "$instrument" --minutes 11 --heldout-minutes 1.5 -o "data/$instrument"
DDSPKIT_HOME=build/zoo $PY -m ddspkit.cli train "data/$instrument/train" --name "$name" "${start[@]}" "$@"
$PY scripts/bundle_model.py "build/zoo/models/$name.safetensors"
