#!/usr/bin/env bash
# The peer environment of bench/ppo_vs_trl.py: TRL 1.12.0, the last release that ships
# `trl.experimental.ppo.PPOTrainer` (later ones dropped it), on top of Kaizen's own venv.
#
#     bench/setup_trl_ppo.sh [VENV] [BASE_PYTHON]     # defaults: bench/.venv-trl-ppo, .venv/bin/python
#
# Only TRL is installed (--no-deps, from PyPI); torch, transformers, accelerate and datasets come
# from BASE_PYTHON's site-packages through a .pth file, so both sides of the benchmark run the very
# same libraries and differ only in the trainer. The venv's own site-packages precede the .pth
# entry on sys.path, so its TRL 1.12 shadows the newer TRL of the base venv. Idempotent: a venv
# that already imports PPOTrainer from TRL 1.12.0 is left as it is.
set -euo pipefail

TRL_VERSION=1.12.0
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${1:-$HERE/.venv-trl-ppo}"
BASE_PYTHON="${2:-$HERE/../.venv/bin/python}"

check() {
  TRL_EXPERIMENTAL_SILENCE=1 "$VENV/bin/python" - "$TRL_VERSION" <<'EOF' 2>/dev/null
import sys
import trl
from trl.experimental.ppo import PPOConfig, PPOTrainer  # noqa: F401
sys.exit(trl.__version__ != sys.argv[1])
EOF
}

if [ -x "$VENV/bin/python" ] && check; then
  echo "$VENV: TRL $TRL_VERSION with PPOTrainer already there"
  exit 0
fi

# The venv is made by the base interpreter, so its Python version matches the shared site-packages.
"$BASE_PYTHON" -m venv "$VENV"
base_site="$("$BASE_PYTHON" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
own_site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
echo "$base_site" > "$own_site/kaizen-base-venv.pth"
"$VENV/bin/pip" install -q --no-deps "trl==$TRL_VERSION"
check || { echo "$VENV: TRL $TRL_VERSION installed but PPOTrainer does not import" >&2; exit 1; }
echo "$VENV: TRL $TRL_VERSION with PPOTrainer, libraries from $base_site"
