#!/usr/bin/env bash
# Train the deep embedded model (`--model tiny-deep`, 20 blocks) on one CUDA GPU, from the repository root:
#
#     bash benchmarks/gpu_train_tiny_deep.sh [OUT]        (default OUT: outputs/train-tiny-deep-gpu)
#
# The same stages, recipe and schedule as `make train-tiny-deep` (which takes about 3 hours on 2 CPU cores): the
# clips are rendered and encoded on the CPU, the transformer trains on the GPU (`--device cuda`), and the
# result is judged on the first 20 held-out prompts. It resumes from OUT/checkpoints when run again, so a
# machine with a time limit can run it more than once. It needs this package's dependencies; on a machine
# whose Python lacks some (diffusers, jsonschema), install their wheels first, for example from a folder
# of wheels downloaded elsewhere:
#
#     python3 -m pip install -q --no-index --no-deps --target /tmp/site WHEELS/*.whl && export PYTHONPATH=/tmp/site
#
# Not yet run on a GPU: no GPU was lent while it was written (it ran on the CPU with --device cpu).
set -euo pipefail
OUT=${1:-outputs/train-tiny-deep-gpu}
DEVICE=${DEVICE:-cuda}
export PYTHONPATH="$(pwd)/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# the shipped model's schedule (as `make train-tiny-deep`): a run of 6,500 video steps resumed with more, three times
# (the last run also judges the model)
STEPS=(6500 11000 13000 16000)
for n in "${STEPS[@]:0:${#STEPS[@]}-1}"; do
    python3 -m tools.train_embedded --arch tiny-deep --device "$DEVICE" --out "$OUT" --dit-steps "$n" \
        --skip-eval "${@:2}"
done
python3 -m tools.train_embedded --arch tiny-deep --device "$DEVICE" --out "$OUT" --dit-steps "${STEPS[-1]}" \
    --eval-prompts 20 "${@:2}"
python3 - "$OUT" <<'PY'
import json, sys
result = json.load(open(f"{sys.argv[1]}/eval.json"))
print(f"judge: {sum(v['passed'] for v in result['verdicts'])}/{len(result['verdicts'])} held-out prompts passed; "
      f"model: {sys.argv[1]}/model (copy it to src/profiling_dit/assets/tiny-wan-deep to ship it)")
PY
