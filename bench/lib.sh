# Shared by the bench/*.sh scripts (sourced, not run): paths, the release build, the emulator venv.
# shellcheck shell=bash

BENCH_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
S3EW_CACHE="${S3EW_CACHE:-$HOME/.cache/s3-event-writer}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$S3EW_CACHE/target}"
BIN="$CARGO_TARGET_DIR/release/s3-event-writer"

# Builds the release binary (a no-op when it is up to date). S3EW_SKIP_BUILD=1 uses the binary
# already in $CARGO_TARGET_DIR/release as it is.
build_release() {
  if [[ "${S3EW_SKIP_BUILD:-0}" != 1 ]]; then
    echo "== cargo build --release (fat LTO: several minutes the first time)" >&2
    (cd "$BENCH_ROOT" && cargo build --release --locked --quiet)
  fi
  [[ -x "$BIN" ]] || { echo "no release binary at $BIN" >&2; exit 1; }
}

# The pinned AWS emulator in a cached venv, the same way scripts/test.sh installs it.
# Sets MOTO_VENV and exports S3EW_MOTO_SERVER.
ensure_moto() {
  local version="5.2.5"
  MOTO_VENV="$S3EW_CACHE/moto-venv"
  if ! "$MOTO_VENV/bin/python" -c "import moto, sys; sys.exit(moto.__version__ != '$version')" 2>/dev/null; then
    echo "== installing moto[server]==$version into $MOTO_VENV" >&2
    python3 -m venv "$MOTO_VENV"
    "$MOTO_VENV/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$version"
  fi
  export S3EW_MOTO_SERVER="$MOTO_VENV/bin/moto_server"
}

# Nanoseconds since the epoch.
now_ns() { date +%s%N; }


describe_machine() {
  echo "machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g 2>/dev/null | awk '/^Mem:/{print $2 " GiB RAM"}'), $(uname -sr)"
}
