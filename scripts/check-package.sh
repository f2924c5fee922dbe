#!/usr/bin/env bash
# Smoke test of a release archive, as a user would take it: check it against the SHA256SUMS
# beside it, unpack it into a temporary directory, check its contents, run `--version`, then the
# README's Quickstart drain of examples/messages.jsonl into a temporary directory and check the
# day files (line counts, sorted, no duplicates), the quarantine, a second run that changes
# nothing, and the GitHub step summary. Leaves nothing behind.
#
# Usage: scripts/check-package.sh [ARCHIVE]   (default: the host's archive in dist/ of Cargo.toml's
#                                              version, as scripts/package.sh names it)
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "check-package: FAILED: $*" >&2; exit 1; }

archive=${1:-}
if [ -z "$archive" ]; then
  pkgid=$(cargo pkgid)
  archive="dist/s3-event-writer-${pkgid##*[#@]}-$(rustc -vV | sed -n 's/^host: //p').tar.gz"
fi
[ -f "$archive" ] || fail "no archive $archive (run scripts/package.sh first)"
dir=$(cd "$(dirname "$archive")" && pwd)
file=$(basename "$archive")
name=${file%.tar.gz}

# 1. the checksum, from the SHA256SUMS beside the archive
[ -f "$dir/SHA256SUMS" ] || fail "no SHA256SUMS beside $archive"
line=$(grep -F "  $file" "$dir/SHA256SUMS" | head -1) || true
[ -n "$line" ] || fail "$file is not listed in $dir/SHA256SUMS"
(cd "$dir" && printf '%s\n' "$line" | sha256sum --check --strict --quiet -) ||
  fail "$file does not match its line in SHA256SUMS"
echo "ok: $file matches SHA256SUMS"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 2. unpack: one top directory named like the archive, nothing outside it
if tar -tzf "$archive" | grep -v "^$name/" | grep -q .; then
  fail "$file has entries outside $name/"
fi
tar -xzf "$archive" -C "$work"
pkg="$work/$name"
for f in s3-event-writer README.md LICENSE CHANGELOG.md docs/OPERATIONS.md docs/FORMAT.md completions/s3-event-writer.bash \
  completions/_s3-event-writer completions/s3-event-writer.fish man/s3-event-writer.1 \
  man/s3-event-writer-drain.1; do
  [ -s "$pkg/$f" ] || fail "$name/$f is missing or empty"
done
[ -x "$pkg/s3-event-writer" ] || fail "$name/s3-event-writer is not executable"
bash -n "$pkg/completions/s3-event-writer.bash" || fail "the bash completion script does not parse"
head -c 2000 "$pkg/man/s3-event-writer-drain.1" | grep -q '^\.TH s3-event-writer-drain 1' ||
  fail "man/s3-event-writer-drain.1 is not a man page"
echo "ok: contents (binary, README.md, LICENSE, CHANGELOG.md, docs/, completions, man pages)"

# 3. --version
bin="$pkg/s3-event-writer"
got=$("$bin" --version)
case "$name-" in
  "${got/ /-}-"*) ;;
  *) fail "--version printed '$got', which does not match the archive's name $name" ;;
esac
echo "ok: --version: $got"

# 4. the Quickstart: the bundled sample into a directory, no AWS
drain() {
  GITHUB_STEP_SUMMARY="$work/summary.md" "$bin" drain --source examples/messages.jsonl \
    --dest "$work/archive/prod" --report "$work/report.json" --progress off --github-summary \
    >"$work/stdout" 2>"$work/stderr" || { rc=$?; cat "$work/stderr" >&2; fail "drain exited with $rc"; }
}
drain
for want in 20261126:153 20261127:143 20261128:168; do
  day=${want%%:*}
  f="$work/archive/prod/$day"
  [ -f "$f" ] || fail "no day file $day"
  n=$(wc -l <"$f")
  [ "$n" -eq "${want#*:}" ] || fail "day $day has $n lines, the Quickstart says ${want#*:}"
  LC_ALL=C sort -c -u "$f" || fail "day $day is not sorted and unique"
done
[ "$(find "$work/archive/prod" -type f | wc -l)" -eq 3 ] || fail "more than the three day files in prod/"
q=$(cat "$work"/archive/quarantine/* | wc -l)
[ "$q" -eq 33 ] || fail "$q quarantine records, the Quickstart says 33"
grep -q 'received 619 .*kept 480, dropped 106, quarantined 33' "$work/stderr" ||
  fail "unexpected summary: $(head -1 "$work/stderr")"
echo "ok: Quickstart drain: 3 day files (153, 143, 168 lines, sorted, unique), 33 quarantined"

# 5. the step summary and annotations (--github-summary)
grep -qx '### s3-event-writer drain: OK' "$work/summary.md" || fail "step summary has no OK heading"
grep -qx '| 619 | 480 | 106 | 33 | 0 | [0-9.]* |' "$work/summary.md" || fail "step summary lacks the counts row"
grep -qx '| 20261128 | 168 | 168 |' "$work/summary.md" || fail "step summary lacks the day rows"
grep -q '^::warning title=s3-event-writer%3A messages quarantined::33 messages quarantined' "$work/stdout" ||
  fail "no quarantine annotation on stdout"
! grep -q '^::error' "$work/stdout" || fail "an ::error:: annotation for a clean run"
echo "ok: GitHub step summary and annotations"

# 6. the same input again changes nothing
sums_before=$(cd "$work/archive/prod" && sha256sum -- *)
drain
[ "$(cd "$work/archive/prod" && sha256sum -- *)" = "$sums_before" ] || fail "a second run changed a day file"
grep -q 'day 20261126: wrote 0 new lines (now 153 lines)' "$work/stderr" || fail "second run wrote lines"
echo "ok: a second run writes 0 new lines"
echo "check-package: $file passed"
