#!/usr/bin/env bash
# The project's test command (README "Quickstart", and what CI runs).
#
# Installs the pinned AWS emulator (moto[server]) into a venv under the cache directory when it
# is missing, then runs every test. The emulator tests start their own moto server on a random
# loopback port and stop it afterwards; nothing is left running.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
CACHE="${S3EW_CACHE:-$HOME/.cache/s3-event-writer}"
VENV="$CACHE/moto-venv"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$CACHE/target}"

if ! "$VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  echo "== installing moto[server]==$MOTO_VERSION into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$MOTO_VERSION"
fi
export S3EW_MOTO_SERVER="$VENV/bin/moto_server"

echo "== cargo test"
cargo test --locked --all-targets "$@"

echo "== the built function under the local Lambda emulator (cargo lambda watch)"
scripts/test-lambda.sh
