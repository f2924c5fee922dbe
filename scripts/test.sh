#!/usr/bin/env bash
# The project's test command (README "Quickstart", and what CI runs).
#
# Downloads, once, into the cache directory S3EW_CACHE (default ~/.cache/s3-event-writer):
#   moto-venv/           the pinned AWS emulator moto[server] and its Python packages (PyPI, ~320 MB)
#   cargo-lambda-venv/   the pinned cargo-lambda and zig, for scripts/test-lambda.sh (PyPI, ~470 MB)
# Builds into the same target directory as the Quickstart's `cargo run`: ./target, or
# CARGO_TARGET_DIR when it is set (.ci/run sets it to a cached one). Then runs every test. The
# emulator tests start their own moto server on a random loopback port and stop it afterwards;
# nothing is left running. Arguments are passed to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
CACHE="${S3EW_CACHE:-$HOME/.cache/s3-event-writer}"
VENV="$CACHE/moto-venv"
echo "== scripts/test.sh: moto and cargo-lambda are downloaded once into $CACHE (S3EW_CACHE); the build goes to ${CARGO_TARGET_DIR:-./target}"

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
