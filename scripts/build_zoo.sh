#!/usr/bin/env bash
# Rebuild every bundled instrument (about 20 minutes each on a 2-core CPU).
set -euo pipefail
here="$(dirname "$0")"
for pair in cello:Cello violin:Violin flute:Flute trumpet:Trumpet; do
  "$here/build_model.sh" "${pair%%:*}" "${pair##*:}" "$@"
done
