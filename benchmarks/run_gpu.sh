#!/usr/bin/env bash
# The speed benchmark on CUDA in fp16 at latent 64x64, e.g. on a lent GPU machine.
# ldm comes from the stable-diffusion-sdkit wheel in .whl/ when it is not importable; the UNet path needs
# only torch, numpy, einops and pillow besides it (no omegaconf: the config is written out in the script).
# Results: $OUT (or benchmarks/out)/gpu_fp16_64.{txt,json}. Extra arguments go to unet_speed.py.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-python3}"
if ! "$PY" -c "import ldm.modules.diffusionmodules.openaimodel" 2>/dev/null; then
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
    export PYTHONPATH="/tmp/site${PYTHONPATH:+:$PYTHONPATH}"
fi
dest="${OUT:-benchmarks/out}"
mkdir -p "$dest"
"$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.get_device_name(0))"
PYTHONUNBUFFERED=1 "$PY" benchmarks/unet_speed.py --device cuda --dtype fp16 --latent 64 --steps 8 --repeats 7 \
    --fused --json "$dest/gpu_fp16_64.json" --verbose "$@" 2>&1 | tee "$dest/gpu_fp16_64.txt"
exit "${PIPESTATUS[0]}"
