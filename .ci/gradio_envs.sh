#!/usr/bin/env bash
# Build two small overlay venvs, one per gradio version the UI must support (webui 1.10: gradio 3.41.2,
# Forge v2: gradio 4.40.0). Each overlay sees the main venv's packages (torch, numpy...) through a .pth
# placed after its own site-packages, so only gradio and the pins below are downloaded.
# Usage: bash .ci/gradio_envs.sh [main-venv-python]   (env GRADIO_ENVS overrides the target folder)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PY="${1:-$ROOT/.venv/bin/python}"
DEST="${GRADIO_ENVS:-$ROOT/.ci/.gradio}"
MAIN_SITE="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

make_env() {  # name, pip args...
    local name="$1"; shift
    local env="$DEST/$name"
    if [ -f "$env/.ok" ]; then echo "gradio env $name: already there"; return; fi
    rm -rf "$env"
    "$PY" -m venv "$env"
    local site
    site="$("$env/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
    echo "$MAIN_SITE" > "$site/zz_main_venv.pth"
    local t0=$SECONDS
    "$env/bin/python" -m pip install --quiet --disable-pip-version-check --no-warn-conflicts --prefer-binary "$@"
    echo "gradio env $name: installed in $((SECONDS - t0)) s"
    touch "$env/.ok"
}

# Pins: what each host ships with (fastapi/pydantic major), plus the last huggingface_hub/httpx those
# gradio versions import cleanly with.
make_env 3.41.2 gradio==3.41.2 fastapi==0.94.0 "pydantic<2" httpx==0.24.1 "huggingface_hub<0.26"
make_env 4.40.0 gradio==4.40.0 fastapi==0.112.2 "pydantic>=2,<2.10" httpx==0.27.2 "huggingface_hub<0.26"
