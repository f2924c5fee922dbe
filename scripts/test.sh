#!/usr/bin/env bash
# The project's test command (README "Quickstart", and what CI runs).
#
# Installs, once, into the cache directory S3EW_CACHE (default ~/.cache/s3-event-writer), while
# the tests build: LocalStack, moto and cargo-lambda (scripts/install-emulators.sh says what each
# needs). Builds into the same target directory as the
# Quickstart's `cargo run`: ./target, or CARGO_TARGET_DIR when it is set (.ci/run sets it to a
# cached one). Then runs the tests, the emulator tests on LocalStack (S3EW_EMULATOR=moto runs
# them on moto; the conformance sets run on both either way). Each emulator test gets a server of
# its own on a random loopback port; nothing is left running. Once this has run, a plain
# `cargo test` finds the emulators in the cache too. Arguments are passed to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== scripts/test.sh: the build goes to ${CARGO_TARGET_DIR:-./target}"
scripts/install-emulators.sh &
install=$!

# Every target but the e2e bench, which does nothing outside `cargo bench` (clippy in .ci/run
# still compiles it); the core bench runs each benchmark once as a test.
targets=(--lib --bins --tests --bench core)
echo "== cargo test --no-run (the emulators install meanwhile)"
cargo test --locked "${targets[@]}" --no-run "$@"
wait "$install"

echo "== cargo test"
S3EW_REQUIRE_EMULATORS=1 cargo test --locked "${targets[@]}" "$@"

echo "== the built function under the local Lambda emulator (cargo lambda watch)"
scripts/test-lambda.sh
