#!/usr/bin/env bash
# The built function under the local Lambda emulator (cargo lambda watch), invoked with an SQS
# event made of the `emulator` conformance bodies, writing to the S3 emulator (LocalStack, or moto
# with S3EW_EMULATOR=moto). Checks the batch response (no failures) and the day objects byte for
# byte against expected/. Called by scripts/test.sh; installs what it needs when it is missing
# (scripts/install-emulators.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

CACHE="${S3EW_CACHE:-$HOME/.cache/s3-event-writer}"
scripts/install-emulators.sh cargo-lambda
export PATH="$CACHE/cargo-lambda-venv/bin:$PATH"
EMULATOR=${S3EW_EMULATOR:-localstack}
case $EMULATOR in
  localstack) PY="$CACHE/localstack-venv/bin/python" ;;
  moto) PY="$CACHE/moto-venv/bin/python" ;;
  *) echo "test-lambda.sh: S3EW_EMULATOR=$EMULATOR: expected localstack or moto" >&2; exit 2 ;;
esac
scripts/install-emulators.sh "$EMULATOR"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

port=$(free_port)
endpoint="http://127.0.0.1:$port"
if [ "$EMULATOR" = moto ]; then
  "$CACHE/moto-venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$work/emulator.log" 2>&1 &
else
  SERVICES=s3 GATEWAY_LISTEN="127.0.0.1:$port" LOCALSTACK_HOST="127.0.0.1:$port" DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 LOCALSTACK_TELEMETRY_DISABLED=1 EAGER_SERVICE_LOADING=1 OVERRIDE_IN_DOCKER=0 \
    FILESYSTEM_ROOT="$work/localstack" "$PY" -m localstack.runtime.main >"$work/emulator.log" 2>&1 &
fi
pids+=($!)

"$PY" - "$endpoint" "$work/event.json" <<'PY'
import json, os, sys, time, boto3
endpoint, event_path = sys.argv[1], sys.argv[2]
for _ in range(600):
    try:
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-west-2", aws_access_key_id="t", aws_secret_access_key="t")
        s3.create_bucket(Bucket="logpublish", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        break
    except Exception:
        time.sleep(0.2)
base = "tests/fixtures/conformance/emulator"
for name in os.listdir(f"{base}/existing"):
    s3.put_object(Bucket="logpublish", Key=f"events/prod/{name}", Body=open(f"{base}/existing/{name}", "rb").read())
bodies = [l.rstrip("\n") for l in open(f"{base}/messages.jsonl", encoding="utf-8")]
records = [{"messageId": f"m{i:04}", "receiptHandle": f"r{i}", "body": b, "attributes": {}, "messageAttributes": {},
            "md5OfBody": "", "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-west-2:123456789012:events",
            "awsRegion": "us-west-2"} for i, b in enumerate(bodies)]
json.dump({"Records": records}, open(event_path, "w"))
PY

invoke_port=$(free_port)
cargo lambda watch --invoke-port "$invoke_port" --bin s3-event-writer \
  --env-var "S3EW_DEST=s3://logpublish/events/prod/,AWS_ENDPOINT_URL=$endpoint,S3EW_S3_PATH_STYLE=true,AWS_ACCESS_KEY_ID=t,AWS_SECRET_ACCESS_KEY=t,AWS_REGION=us-west-2,AWS_EC2_METADATA_DISABLED=true" \
  >"$work/watch.log" 2>&1 &
pids+=($!)

response=""
for _ in $(seq 1 120); do
  if response=$(cargo lambda invoke s3-event-writer --invoke-port "$invoke_port" --data-file "$work/event.json" 2>"$work/invoke.err"); then
    break
  fi
  sleep 1
done
echo "batch response: $response"
[ "$response" = '{"batchItemFailures":[]}' ] || { echo "FAILED: unexpected batch response"; tail -20 "$work/watch.log" "$work/invoke.err"; exit 1; }

"$PY" - "$endpoint" <<'PY'
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=sys.argv[1], region_name="us-west-2", aws_access_key_id="t", aws_secret_access_key="t")
base = "tests/fixtures/conformance/emulator/expected"
keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="logpublish", Prefix="events/prod/").get("Contents", []))
want = sorted(f"events/prod/{n}" for n in os.listdir(base))
assert keys == want, (keys, want)
for k in keys:
    got = s3.get_object(Bucket="logpublish", Key=k)["Body"].read()
    assert got == open(f"{base}/{k.rsplit('/', 1)[1]}", "rb").read(), f"{k} differs"
q = s3.list_objects_v2(Bucket="logpublish", Prefix="events/quarantine/").get("Contents", [])
lines = sum(len(s3.get_object(Bucket="logpublish", Key=o["Key"])["Body"].read().splitlines()) for o in q)
assert lines == 33, lines
print(f"lambda: {len(keys)} day objects byte for byte, {lines} quarantine records")
PY
echo "lambda emulator test: ok"
