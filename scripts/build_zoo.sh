#!/usr/bin/env bash
# Rebuild every bundled instrument, in order: the first four from random weights (about 20
# minutes each on a 2-core CPU; the trumpet, whose bright high notes take longer to learn,
# 12,000 steps: about 50 minutes), then DDSP-VST's other instruments, each fine-tuned from
# the model that `--from auto` chose when it was built (recorded in its provenance, with
# the exact command), so each one comes after the model it starts from (10-15 minutes each;
# they were built with the 'fast' recipe, before the 'finetune' recipe existed).
set -euo pipefail
here="$(dirname "$0")"
"$here/build_model.sh" cello Cello --from scratch "$@"
"$here/build_model.sh" violin Violin --from scratch "$@"
"$here/build_model.sh" flute Flute --from scratch "$@"
"$here/build_model.sh" trumpet Trumpet --steps 12000 --from scratch "$@"
"$here/build_model.sh" saxophone Saxophone --recipe fast --steps 1000 --from Cello "$@"
"$here/build_model.sh" bassoon Bassoon --recipe fast --steps 600 --from Saxophone "$@"
"$here/build_model.sh" trombone Trombone --recipe fast --steps 1500 --from Bassoon "$@"
"$here/build_model.sh" tuba Tuba --recipe fast --steps 1500 --from Bassoon "$@"
"$here/build_model.sh" vowels Vowels --recipe fast --steps 1000 --from Cello "$@"
"$here/build_model.sh" clarinet Clarinet --recipe fast --steps 1000 --from Trombone "$@"
"$here/build_model.sh" melodica Melodica --recipe fast --steps 1000 --from Trumpet "$@"
"$here/build_model.sh" sitar Sitar --recipe fast --steps 1000 --from Violin "$@"
