#!/usr/bin/env bash
# The whole local run against the legacy writer's way (bench/legacy_baseline.py), same input,
# same machine, same run: docs/PERFORMANCE.md, the "local run" row.
#
# usage: bench/compare_baseline.sh [N=100000]        (ROUNDS=5 by default)
#
# Generates N realistic bodies over 5 days, builds the release binary, then runs ROUNDS rounds
# of (python, rust), each into fresh temporary directories, timing the whole process (start-up,
# reading, classifying, merging, writing; the Rust writer also fsyncs). Checks that both wrote
# identical day files, and prints the median times, messages/s and the ratio.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

N="${1:-100000}"
ROUNDS="${ROUNDS:-5}"
DAYS=5
WORK="$(mktemp -d "${TMPDIR:-/tmp}/s3ew-compare.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

describe_machine
build_release
MSGS="$WORK/messages.jsonl"
python3 "$BENCH_ROOT/bench/gen_messages.py" "$N" "$DAYS" "$MSGS"

py_times=()
rs_times=()
py_cpu=()
rs_cpu=()
for round in $(seq 1 "$ROUNDS"); do
  py_dir="$WORK/py-$round/prod"
  rs_dir="$WORK/rs-$round/prod"
  mkdir -p "$(dirname "$py_dir")" "$(dirname "$rs_dir")"

  t0=$(now_ns)
  /usr/bin/time -f "%U %S" -o "$WORK/py.cpu" \
    python3 "$BENCH_ROOT/bench/legacy_baseline.py" "$MSGS" "$py_dir" 2>"$WORK/py.err"
  t1=$(now_ns)
  py_times+=("$(( (t1 - t0) / 1000 ))")

  t0=$(now_ns)
  /usr/bin/time -f "%U %S" -o "$WORK/rs.cpu" \
    "$BIN" drain --source "$MSGS" --dest "$rs_dir" --progress off 2>"$WORK/rs.err"
  t1=$(now_ns)
  rs_times+=("$(( (t1 - t0) / 1000 ))")
  py_cpu+=("$(awk '{ print $1 + $2 }' "$WORK/py.cpu")")
  rs_cpu+=("$(awk '{ print $1 + $2 }' "$WORK/rs.cpu")")

  if ! diff -r -q "$py_dir" "$rs_dir" >/dev/null; then
    echo "round $round: the day files differ:" >&2
    diff -r -q "$py_dir" "$rs_dir" >&2 || true
    exit 1
  fi
  files=$(find "$rs_dir" -type f | wc -l)
  awk -v r="$round" -v p="${py_times[-1]}" -v s="${rs_times[-1]}" -v f="$files" \
    'BEGIN { printf "round %d: python %.3f s, rust %.3f s (%d identical day files)\n", r, p / 1e6, s / 1e6, f }'
  rm -rf "$WORK/py-$round" "$WORK/rs-$round"
done

echo "python: $(head -c 200 "$WORK/py.err")"
echo "rust:   $(grep -m1 '^received' "$WORK/rs.err")"
python3 - "$N" "${py_times[*]}" "${rs_times[*]}" "${py_cpu[*]}" "${rs_cpu[*]}" <<'EOF'
import statistics, sys
n = int(sys.argv[1])
med = lambda s, scale: statistics.median(float(x) for x in s.split()) / scale
py, rs = med(sys.argv[2], 1e6), med(sys.argv[3], 1e6)
py_cpu, rs_cpu = med(sys.argv[4], 1), med(sys.argv[5], 1)
ratio = py / rs
print(f"messages: {n}, rounds: {len(sys.argv[2].split())}, medians (wall; CPU = user + sys):")
print(f"  legacy baseline (python3 bench/legacy_baseline.py): {py:8.3f} s  {n / py:10.0f} msg/s  CPU {py_cpu:.2f} s")
print(f"  s3-event-writer drain (release):                    {rs:8.3f} s  {n / rs:10.0f} msg/s  CPU {rs_cpu:.2f} s")
print(f"  ratio (wall): {ratio:.1f}x, (CPU): {py_cpu / rs_cpu:.1f}x (target >= 20x: {'met' if ratio >= 20 else 'MISSED'})")
EOF
