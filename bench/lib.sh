# Shared by the bench/*.sh scripts (sourced, not run): paths, the release build, the emulators.
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

# The pinned AWS emulators in their cached venvs (scripts/install-emulators.sh).
ensure_emulators() {
  "$BENCH_ROOT/scripts/install-emulators.sh" localstack moto
}

# Nanoseconds since the epoch.
now_ns() { date +%s%N; }


describe_machine() {
  echo "machine: $(nproc) CPUs ($(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)), $(free -g 2>/dev/null | awk '/^Mem:/{print $2 " GiB RAM"}'), $(uname -sr)"
}
