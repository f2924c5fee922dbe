#!/usr/bin/env bash
# Installs the AWS emulators the tests and benches talk to, once, into the cache directory
# S3EW_CACHE (default ~/.cache/s3-event-writer); a no-op when they are there:
#   localstack-venv/   LocalStack (localstack-core, host mode), pinned by
#                      scripts/localstack-requirements.txt; needs Python 3.13 or later (it
#                      imports warnings.deprecated), found as S3EW_PYTHON, python3.14, python3.13
#                      or python3 on PATH, or under pyenv (PyPI, ~500 MB)
#                      It holds the AWS CLI too (awscli, a dependency of localstack-core), which
#                      tests/it/acceptance.rs runs scripts/acceptance.sh with.
#   moto-venv/         moto[server], pinned below (PyPI, ~320 MB)
#   cargo-lambda-venv/ cargo-lambda and zig, pinned below: the local Lambda emulator that
#                      scripts/test-lambda.sh runs the function under (PyPI, ~470 MB)
# Each venv gets `s3ew-key` (its pin) written last: that is how the tests know it is complete.
#
# Usage: scripts/install-emulators.sh [localstack|moto|cargo-lambda]...   (default: all, at once)
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="5.2.5"
CARGO_LAMBDA_VERSION="1.9.2"
LOCK=scripts/localstack-requirements.txt
CACHE="${S3EW_CACHE:-$HOME/.cache/s3-event-writer}"
mkdir -p "$CACHE"

# The first Python of at least 3.13 among the candidates.
python313() {
  local candidates=()
  [ -n "${S3EW_PYTHON:-}" ] && candidates+=("$S3EW_PYTHON")
  candidates+=(python3.14 python3.13 python3)
  local p
  for p in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3; do candidates+=("$p"); done
  for p in "${candidates[@]}"; do
    if "$p" -c 'import sys; sys.exit(sys.version_info < (3, 13))' >/dev/null 2>&1; then
      command -v "$p"
      return 0
    fi
  done
  return 1
}

# venv NAME PYTHON KEY MODULE PIP-ARGS...: $CACHE/NAME-venv made for KEY that imports MODULE, or a
# new one; its pip output goes to $CACHE/NAME-install.log.
venv() {
  local name=$1 python=$2 key=$3 module=$4
  shift 4
  local dir="$CACHE/$name-venv"
  if [ "$(cat "$dir/s3ew-key" 2>/dev/null)" = "$key" ] && "$dir/bin/python" -c "import $module" 2>/dev/null; then
    return 0
  fi
  echo "== installing $name into $dir (log: $CACHE/$name-install.log)"
  rm -rf "$dir"
  {
    "$python" -m venv "$dir" &&
      "$dir/bin/pip" install --disable-pip-version-check --no-compile "$@" &&
      "$dir/bin/python" -c "import $module"
  } >"$CACHE/$name-install.log" 2>&1 || {
    echo "== installing $name FAILED; the end of $CACHE/$name-install.log:" >&2
    tail -20 "$CACHE/$name-install.log" >&2
    return 1
  }
  printf '%s' "$key" >"$dir/s3ew-key"
}

localstack() {
  local python
  python=$(python313) || {
    echo "install-emulators.sh: LocalStack needs Python 3.13 or later and none was found (S3EW_PYTHON, python3.14, python3.13, python3, pyenv's versions): install one, or set S3EW_PYTHON to it" >&2
    return 1
  }
  venv localstack "$python" "$(sha256sum "$LOCK" | cut -c1-16)" localstack -r "$LOCK"
}

moto() {
  venv moto python3 "moto[server]==$MOTO_VERSION" moto "moto[server]==$MOTO_VERSION"
}

cargo-lambda() {
  venv cargo-lambda python3 "cargo-lambda==$CARGO_LAMBDA_VERSION" ziglang "cargo-lambda==$CARGO_LAMBDA_VERSION"
}

[ $# -gt 0 ] || set -- localstack moto cargo-lambda
pids=()
for what in "$@"; do
  case $what in
    localstack | moto | cargo-lambda) "$what" & pids+=($!) ;;
    *) echo "install-emulators.sh: unknown emulator '$what' (localstack, moto or cargo-lambda)" >&2; exit 2 ;;
  esac
done
status=0
for p in "${pids[@]}"; do wait "$p" || status=1; done
exit $status
