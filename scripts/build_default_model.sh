#!/usr/bin/env bash
# Rebuild the bundled default instrument (Cello); see scripts/build_model.sh.
exec "$(dirname "$0")/build_model.sh" cello Cello "$@"
