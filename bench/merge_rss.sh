#!/usr/bin/env bash
# Peak memory of merging new lines into a large existing day file: docs/PERFORMANCE.md,
# the "merge ... into a 512 MiB day" rows and "bench/merge_rss.sh" under Method.
#
# usage: bench/merge_rss.sh [SIZE_MIB=512]
#
# Builds a sorted day file (2026-11-20) of about SIZE_MIB MiB of realistic lines, and a file of
# 10,000 message bodies (NEW_MESSAGES) whose timestamps fall on that day. Then, each under
# /usr/bin/time -v, merges the messages into the day:
#   (a) local:  s3-event-writer drain --source MSGS --dest DIR
#   (b) S3:     the same into s3://bench/events/prod/ on a private moto server, where the day was
#               uploaded first (boto3 from the emulator's venv); above 64 MiB the writer uses a
#               multipart upload (checked in its report)
#   (c) the legacy baseline (bench/legacy_baseline.py) on a copy of the local day, the same-run
#       yardstick (whole file in memory)
# and reports the writer's peak RSS ("Maximum resident set size") and wall time. moto holds the
# object in its own memory: that is moto's RSS, not measured. Each result is verified: lines =
# old + new, sorted and unique by bytes (LC_ALL=C sort -c -u), no old line lost, and the three
# results identical.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

SIZE_MIB="${1:-512}"
NEW_MESSAGES="${NEW_MESSAGES:-10000}"
DAY=2026-11-20
KEY=20261120
WORK="$(mktemp -d "${TMPDIR:-/tmp}/s3ew-merge.XXXXXX")"
MOTO_PID=
cleanup() {
  if [[ -n "$MOTO_PID" ]]; then kill "$MOTO_PID" 2>/dev/null || true; wait "$MOTO_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

describe_machine
build_release
ensure_emulators
PY="$MOTO_VENV/bin/python"

echo "== building a sorted day file of $SIZE_MIB MiB for $DAY"
python3 - "$SIZE_MIB" "$DAY" "$WORK/old" "$BENCH_ROOT/tests/fixtures/conformance/basic/expected" <<'EOF'
# Realistic lines: the (channel, endpoint, event) of the conformance set's archive lines, with
# fresh channel ids, spread over the day's seconds, 5 % in the older shape without "endpoint".
# Generated second by second, each second's lines sorted, so the file is sorted by bytes
# without holding it in memory.
import json, os, random, re, sys
size = int(sys.argv[1]) << 20
day, out, expected = sys.argv[2], sys.argv[3], sys.argv[4]
rng = random.Random(512)
hex8 = re.compile(r"[0-9a-f]{8}")
shapes = []
for name in sorted(os.listdir(expected)):
    with open(os.path.join(expected, name), encoding="utf-8") as f:
        for line in f:
            r = json.loads(line)
            if "endpoint" in r:
                shapes.append((r["channel"], r["endpoint"], r["event"]))
written = 0
lines = 0
with open(out, "w", encoding="utf-8", newline="\n") as f:
    for sec in range(86400):
        goal = size * (sec + 1) // 86400
        group = set()
        estimate = written
        while estimate < goal:
            channel, endpoint, event = rng.choice(shapes)
            channel = hex8.sub(lambda _m: "%08x" % rng.getrandbits(32), channel)
            ts = "%sT%02d:%02d:%02d+00:00" % (day, sec // 3600, sec // 60 % 60, sec % 60)
            if rng.random() < 0.05:
                rec = {"timestamp": ts, "channel": channel, "event": event}
            else:
                rec = {"timestamp": ts, "channel": channel, "endpoint": endpoint, "event": event}
            line = json.dumps(rec) + "\n"
            if line not in group:
                group.add(line)
                estimate += len(line.encode())
        for line in sorted(group, key=lambda s: s.encode()):
            f.write(line)
        written = estimate
        lines += len(group)
print(f"  {lines} lines, {written / 2**20:.1f} MiB", file=sys.stderr)
EOF
python3 "$BENCH_ROOT/bench/gen_messages.py" "$NEW_MESSAGES" 1 "$WORK/new.jsonl" --start "$DAY" --seed 7
OLD_LINES=$(wc -l <"$WORK/old")
OLD_BYTES=$(stat -c %s "$WORK/old")

# The new lines on their own (an empty archive), to know how many the merge must add.
"$BIN" drain --source "$WORK/new.jsonl" --dest "$WORK/alone/prod" --progress off 2>/dev/null
NEW_DISTINCT=$(wc -l <"$WORK/alone/prod/$KEY")
ALREADY=$(LC_ALL=C comm -12 "$WORK/old" "$WORK/alone/prod/$KEY" | wc -l)
EXPECT=$(( OLD_LINES + NEW_DISTINCT - ALREADY ))
echo "  existing day: $OLD_LINES lines ($(( OLD_BYTES >> 20 )) MiB); new messages: $NEW_MESSAGES giving $NEW_DISTINCT distinct lines for $KEY ($ALREADY already there); expected after the merge: $EXPECT lines"

verify() { # FILE LABEL
  local got
  got=$(wc -l <"$1")
  [[ "$got" == "$EXPECT" ]] || { echo "$2: $got lines, expected $EXPECT" >&2; exit 1; }
  LC_ALL=C sort -c -u "$1" || { echo "$2: not sorted and unique by bytes" >&2; exit 1; }
  [[ "$(LC_ALL=C comm -23 "$WORK/old" "$1" | wc -l)" == 0 ]] || { echo "$2: existing lines lost" >&2; exit 1; }
  echo "  $2: verified ($got lines = $OLD_LINES old + $(( got - OLD_LINES )) new, sorted, unique, no old line lost)"
}

# Peak RSS in KiB and wall seconds from a /usr/bin/time -v log.
rss_kib() { sed -n 's/.*Maximum resident set size (kbytes): *//p' "$1"; }
wall_s() { sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): *//p' "$1" \
  | awk -F: '{ s = 0; for (i = 1; i <= NF; i++) s = s * 60 + $i; print s }'; }

echo "== (a) local directory"
mkdir -p "$WORK/local/prod"
cp "$WORK/old" "$WORK/local/prod/$KEY"
sync
/usr/bin/time -v -o "$WORK/local.time" "$BIN" drain --source "$WORK/new.jsonl" \
  --dest "$WORK/local/prod" --progress off --report "$WORK/local.json" 2>"$WORK/local.err"
verify "$WORK/local/prod/$KEY" local

echo "== (b) S3 on moto"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
ENDPOINT="http://127.0.0.1:$PORT"
"$S3EW_CACHE/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$WORK/moto.log" 2>&1 &
MOTO_PID=$!
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-west-2 \
  AWS_ENDPOINT_URL="$ENDPOINT" S3EW_S3_PATH_STYLE=true AWS_EC2_METADATA_DISABLED=true
S3PY='
import sys, time, urllib.request, boto3
endpoint, action = sys.argv[1], sys.argv[2]
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2",
                  aws_access_key_id="testing", aws_secret_access_key="testing")
if action == "stage":
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2)
            break
        except Exception:
            if time.time() > deadline:
                raise
            time.sleep(0.1)
    s3.create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
    s3.upload_file(sys.argv[3], "bench", sys.argv[4])
else:
    s3.download_file("bench", sys.argv[4], sys.argv[3])
'
t0=$(now_ns)
"$PY" -c "$S3PY" "$ENDPOINT" stage "$WORK/old" "events/prod/$KEY"
echo "  uploaded the existing day to moto in $(( ($(now_ns) - t0) / 1000000 )) ms"
/usr/bin/time -v -o "$WORK/s3.time" "$BIN" drain --source "$WORK/new.jsonl" \
  --dest "s3://bench/events/prod/" --progress off --report "$WORK/s3.json" 2>"$WORK/s3.err" \
  || { cat "$WORK/s3.err" >&2; exit 1; }
"$PY" -c "$S3PY" "$ENDPOINT" fetch "$WORK/s3-result" "events/prod/$KEY"
verify "$WORK/s3-result" s3
MULTIPART=$(python3 -c 'import json, sys; r = json.load(open(sys.argv[1]))["requests"]; print(", ".join(f"{k} {v}" for k, v in sorted(r.items())))' "$WORK/s3.json")
grep -q "CreateMultipartUpload" <<<"$MULTIPART" || { echo "no multipart upload: $MULTIPART" >&2; exit 1; }
echo "  writer requests: $MULTIPART"
kill "$MOTO_PID"; wait "$MOTO_PID" 2>/dev/null || true; MOTO_PID=

echo "== (c) legacy baseline (whole day file in memory)"
mkdir -p "$WORK/legacy/prod"
cp "$WORK/old" "$WORK/legacy/prod/$KEY"
/usr/bin/time -v -o "$WORK/legacy.time" python3 "$BENCH_ROOT/bench/legacy_baseline.py" \
  "$WORK/new.jsonl" "$WORK/legacy/prod" 2>"$WORK/legacy.err"
verify "$WORK/legacy/prod/$KEY" legacy
cmp -s "$WORK/legacy/prod/$KEY" "$WORK/local/prod/$KEY" && cmp -s "$WORK/s3-result" "$WORK/local/prod/$KEY" \
  || { echo "the three results differ" >&2; exit 1; }
echo "  the local, S3 and legacy results are identical"

python3 - "$SIZE_MIB" "$OLD_BYTES" "$(rss_kib "$WORK/local.time")" "$(wall_s "$WORK/local.time")" \
  "$(rss_kib "$WORK/s3.time")" "$(wall_s "$WORK/s3.time")" \
  "$(rss_kib "$WORK/legacy.time")" "$(wall_s "$WORK/legacy.time")" <<'EOF'
import sys
size_mib, old = int(sys.argv[1]), int(sys.argv[2])
rows = [("s3-event-writer, local dir", sys.argv[3], sys.argv[4]),
        ("s3-event-writer, S3 (moto, multipart)", sys.argv[5], sys.argv[6]),
        ("legacy baseline (python), local dir", sys.argv[7], sys.argv[8])]
legacy_rss, legacy_wall = int(sys.argv[7]) / 1024, float(sys.argv[8])
print(f"merge into a {old / 2**20:.0f} MiB day file; peak RSS of the merging process, wall time:")
for name, rss, wall in rows:
    rss, wall = int(rss) / 1024, float(wall)
    print(f"  {name:40s} {rss:8.1f} MiB ({rss / (old / 2**20):.3f} x the file, "
          f"{rss / legacy_rss:.3f} x legacy)  {wall:7.2f} s ({legacy_wall / wall:.1f}x faster than legacy)")
worst = max(int(sys.argv[3]), int(sys.argv[5])) / 1024
print(f"  target peak RSS <= 64 MiB: {'met' if worst <= 64 else 'MISSED'} (worst {worst:.1f} MiB)")
EOF
