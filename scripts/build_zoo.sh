#!/usr/bin/env bash
# Rebuild every bundled instrument (about 20 minutes each on a 2-core CPU; the trumpet, whose
# bright high notes take longer to learn, trains 12,000 steps: about 50 minutes).
set -euo pipefail
here="$(dirname "$0")"
"$here/build_model.sh" cello Cello "$@"
"$here/build_model.sh" violin Violin "$@"
"$here/build_model.sh" flute Flute "$@"
"$here/build_model.sh" trumpet Trumpet --steps 12000 "$@"
