#!/usr/bin/env bash
# Receivers and requests against an AWS emulator: docs/PERFORMANCE.md, "Receivers".
#
# usage: bench/e2e.sh  (E2E_MESSAGES=200 E2E_DELAY_MS=20 E2E_RECEIVERS=1,2,4,8 E2E_ROUNDS=3 E2E_NO_DELAY_SECTION=1
#                       S3EW_EMULATOR=localstack|moto)
#
# Installs the pinned emulators when they are missing (scripts/install-emulators.sh), then runs
# `cargo bench --bench e2e` on LocalStack (S3EW_EMULATOR=moto: on moto), which prints the figures.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
describe_machine
ensure_emulators
cd "$BENCH_ROOT"
exec cargo bench --locked --bench e2e
