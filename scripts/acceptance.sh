#!/usr/bin/env bash
# An acceptance run of s3-event-writer on your own AWS account: what the emulators the tests run
# on cannot show (docs/DEPLOY.md, "An acceptance run on your own account").
#
# Usage: scripts/acceptance.sh --yes [--region R] [--bin PATH] [--writer-policy FILE]
#                              [--messages N] [--steps LIST] [--keep] [--conformance DIR]
#
#   --yes                 go ahead: create a scratch bucket, queues and (with --writer-policy) an
#                         IAM role in the account of your credentials, and delete them at the end
#   --region R            the region [default: AWS_REGION, AWS_DEFAULT_REGION or the profile's]
#   --bin PATH            the s3-event-writer binary [default: s3-event-writer on PATH]
#   --writer-policy FILE  the writer policy JSON of the Terraform module
#                         (terraform output -raw writer_policy_json > writer-policy.json)
#   --messages N          messages of step 2, the four writers at once [default: 4000]
#   --steps LIST          the steps to run, e.g. 1,5 [default: 1,2,3,4,5]
#   --keep                delete nothing: leave the scratch resources for a look (the names are
#                         printed; delete them yourself)
#   --conformance DIR     the conformance sets [default: the checkout's tests/fixtures/conformance]
#
# Steps, one row each (or more) of the Markdown table printed at the end:
#   1  the conformance sets drained from SQS: each day file byte for byte, the quarantine, counts
#   2  four drains at once on one queue: every line once, the queue empty, `verify` clean
#   3  a day above the multipart threshold written by two drains at once: every line once, and
#      on AWS the If-Match of CompleteMultipartUpload refusing the slower writer
#   4  the writer policy, pointed at the scratch resources, on a scratch role: a drain as the
#      role succeeds, actions outside the policy are denied
#   5  `s3-event-writer doctor` on the scratch queue and bucket
# A result is `held`, `FAILED`, `not shown on this endpoint` (AWS_ENDPOINT_URL names a server
# that is not AWS, and the step depends on AWS itself), `not shown` or `skipped`.
#
# Needs bash, the AWS CLI (v1 or v2) and jq. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_<SERVICE>)
# points it and the binary at another endpoint, e.g. an emulator.
# Exit status: 0 nothing FAILED; 1 a step FAILED or a scratch resource could not be deleted;
# 2 not run (no --yes, a missing tool, no credentials, a usage error).
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
me=acceptance.sh

yes=0 region='' bin='' policy_file='' messages=4000 steps_wanted=1,2,3,4,5 keep=0
conformance="$here/../tests/fixtures/conformance"

usage_error() {
  echo "$me: $*" >&2
  exit 2
}

while [ $# -gt 0 ]; do
  case $1 in
    --yes) yes=1; shift ;;
    --region) region=${2:?--region needs a region}; shift 2 ;;
    --bin) bin=${2:?--bin needs a path}; shift 2 ;;
    --writer-policy) policy_file=${2:?--writer-policy needs a file}; shift 2 ;;
    --messages) messages=${2:?--messages needs a number}; shift 2 ;;
    --steps) steps_wanted=${2:?--steps needs a list, e.g. 1,5}; shift 2 ;;
    --keep) keep=1; shift ;;
    --conformance) conformance=${2:?--conformance needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) usage_error "unknown argument '$1' (see --help)" ;;
  esac
done

[ "$yes" = 1 ] || usage_error "not run: this creates a scratch S3 bucket, SQS queues and an IAM role in your AWS account and deletes them at the end (a few cents); pass --yes to go ahead"
case $messages in '' | *[!0-9]*) usage_error "--messages $messages: give a number of messages, at least 10" ;; esac
[ "$messages" -ge 10 ] || usage_error "--messages $messages: give at least 10"
case ",$steps_wanted," in *[!0-9,]* | *,[!1-5],* | *[0-9][0-9]*) usage_error "--steps $steps_wanted: give step numbers 1 to 5, e.g. 1,5" ;; esac
for tool in aws jq; do
  command -v "$tool" >/dev/null ||
    usage_error "needs the '$tool' command on PATH (AWS CLI v1 or v2, and jq): install it and run again"
done
if [ -z "$bin" ]; then
  bin=$(command -v s3-event-writer) ||
    usage_error "no s3-event-writer on PATH: pass --bin PATH"
fi
bin_version=$("$bin" --version 2>/dev/null) || usage_error "--bin $bin: '$bin --version' did not run"
if [ -n "$policy_file" ]; then
  jq -e '.Statement' "$policy_file" >/dev/null 2>&1 ||
    usage_error "--writer-policy $policy_file: not a JSON policy document with a Statement (terraform output -raw writer_policy_json)"
fi
for set in basic emulator malformed; do
  [ -f "$conformance/$set/messages.jsonl" ] ||
    usage_error "no conformance set $conformance/$set: run this from a checkout, or pass --conformance DIR"
done

region=${region:-${AWS_REGION:-${AWS_DEFAULT_REGION:-$(aws configure get region 2>/dev/null)}}}
[ -n "$region" ] || usage_error "no region: pass --region R (or set AWS_REGION)"
export AWS_REGION="$region" AWS_DEFAULT_REGION="$region" AWS_PAGER=''

# aws SERVICE ARGS...: the AWS CLI with the endpoint of SERVICE (AWS_ENDPOINT_URL_<SERVICE>, else
# AWS_ENDPOINT_URL) given as --endpoint-url, since AWS CLI v1 ignores the variables for SQS in some
# regions. JSON output whatever the profile says.
awsx() {
  local service=$1 var endpoint
  shift
  case $service in s3 | s3api) var=AWS_ENDPOINT_URL_S3 ;; *) var=AWS_ENDPOINT_URL_$(printf %s "$service" | tr '[:lower:]' '[:upper:]') ;; esac
  endpoint=${!var:-${AWS_ENDPOINT_URL:-}}
  if [ -n "$endpoint" ]; then
    aws --output json --endpoint-url "$endpoint" "$service" "$@"
  else
    aws --output json "$service" "$@"
  fi
}

sts_err="${TMPDIR:-/tmp}/s3ew-acceptance-sts.$$"
identity=$(awsx sts get-caller-identity 2>"$sts_err") || {
  why=$(tr '\n' ' ' <"$sts_err" | sed 's/  */ /g; s/^ //; s/ $//')
  rm -f "$sts_err"
  usage_error "not run: no working AWS credentials ('aws sts get-caller-identity': $why)"
}
rm -f "$sts_err"
account=$(jq -r .Account <<<"$identity")
caller_arn=$(jq -r .Arn <<<"$identity")
partition=$(cut -d: -f2 <<<"$caller_arn")

# The endpoint, and whether it is AWS's own.
endpoint=${AWS_ENDPOINT_URL:-${AWS_ENDPOINT_URL_S3:-${AWS_ENDPOINT_URL_SQS:-}}}
on_aws=1
if [ -n "$endpoint" ]; then
  host=$(printf %s "$endpoint" | sed -E 's#^[a-zA-Z]+://##; s#[:/].*$##')
  case $host in *.amazonaws.com | *.amazonaws.com.cn | *.api.aws) ;; *) on_aws=0 ;; esac
fi

# --- bookkeeping -------------------------------------------------------------------------------

SECONDS=0
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
base="s3ew-acceptance-$(date -u +%Y%m%d%H%M%S)-$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')"
work=$(mktemp -d "${TMPDIR:-/tmp}/s3ew-acceptance.XXXXXX")
bucket='' role='' queue='' queues=() children=() cleaned=0 cleanup_note=''
row_steps=() row_results=() row_details=()

say() { echo "== [${SECONDS} s] $*" >&2; }

# join SEP WORDS...
join() {
  local sep=$1 out=$2 w
  shift 2
  for w in "$@"; do out="$out$sep$w"; done
  printf %s "$out"
}

# row STEP RESULT DETAIL: one row of the table.
row() {
  row_steps+=("$1")
  row_results+=("$2")
  row_details+=("$3")
  echo "   $1: $2: $3" >&2
}

wanted() { case ",$steps_wanted," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }

# The last lines of a log, on one line, for a detail.
tail_of() { tail -n "${2:-3}" "$1" 2>/dev/null | tr '\n' ' ' | sed 's/  */ /g; s/ $//' | cut -c1-300; }

# Empties the versioned scratch bucket (uploads, every version and delete marker) and deletes it.
delete_bucket() {
  local round listing
  for round in 1 2 3 4 5; do
    listing=$(awsx s3api list-multipart-uploads --bucket "$bucket") || return 1
    jq -r '(.Uploads // [])[] | [.Key, .UploadId] | @tsv' <<<"$listing" |
      while IFS=$'\t' read -r key id; do
        awsx s3api abort-multipart-upload --bucket "$bucket" --key "$key" --upload-id "$id" >/dev/null || exit 1
      done || return 1
    listing=$(awsx s3api list-object-versions --bucket "$bucket") || return 1
    jq -c '[(.Versions // [])[], (.DeleteMarkers // [])[] | {Key, VersionId}]
           | range(0; length; 1000) as $i | {Objects: .[$i:$i + 1000], Quiet: true}' <<<"$listing" |
      while read -r batch; do
        printf '%s' "$batch" >"$work/delete-$round.json"
        awsx s3api delete-objects --bucket "$bucket" --delete "file://$work/delete-$round.json" >/dev/null || exit 1
      done || return 1
    awsx s3api delete-bucket --bucket "$bucket" && return 0
    echo "   the bucket is not empty yet (round $round)" >&2
  done
  return 1
}

# Deletes the queues of this run that were made but not recorded (stopped in between); none when
# the queues cannot be listed.
delete_unrecorded_queues() {
  local listed q
  listed=$(awsx sqs list-queues --queue-name-prefix "$base") || return 0
  for q in $(jq -r '(.QueueUrls // [])[]' <<<"$listed"); do
    case " ${queues[*]-} " in *" $q "*) ;; *) awsx sqs delete-queue --queue-url "$q" >/dev/null || return 1 ;; esac
  done
}

delete_role() {
  awsx iam delete-role-policy --role-name "$role" --policy-name writer >/dev/null 2>&1
  awsx iam delete-role --role-name "$role"
}

# Deletes what the run made, at once; says what could not be deleted. Once.
cleanup() {
  [ "$cleaned" = 0 ] || return 0
  cleaned=1
  local pid q what=() failed=()
  # The drains and the rest still running in the background (each a subshell and its command).
  for pid in ${children[@]+"${children[@]}"}; do
    pkill -TERM -P "$pid" 2>/dev/null
    kill "$pid" 2>/dev/null
  done
  wait
  [ -n "$bucket" ] && what+=("bucket $bucket")
  for q in ${queues[@]+"${queues[@]}"}; do what+=("queue ${q##*/}"); done
  [ -n "$role" ] && what+=("IAM role $role")
  if [ ${#what[@]} -eq 0 ]; then
    cleanup_note="No scratch resource was made."
  elif [ "$keep" = 1 ]; then
    cleanup_note="Kept (--keep), delete them yourself: $(join ', ' "${what[@]}"); local files: $work."
    return 0
  else
    say "deleting the scratch resources"
    local pids=() labels=() i
    if [ -n "$bucket" ]; then delete_bucket >"$work/clean-bucket.log" 2>&1 & pids+=($!); labels+=("bucket $bucket"); fi
    if [ -n "$role" ]; then delete_role >"$work/clean-role.log" 2>&1 & pids+=($!); labels+=("IAM role $role"); fi
    for q in ${queues[@]+"${queues[@]}"}; do
      awsx sqs delete-queue --queue-url "$q" >/dev/null 2>&1 & pids+=($!); labels+=("queue ${q##*/}")
    done
    delete_unrecorded_queues >/dev/null 2>&1 & pids+=($!); labels+=("queues named $base-* not recorded")
    for i in "${!pids[@]}"; do wait "${pids[$i]}" || failed+=("${labels[$i]}"); done
    if [ ${#failed[@]} -eq 0 ]; then
      cleanup_note="Deleted everything the run made: $(join ', ' "${what[@]}")."
    else
      cleanup_note="COULD NOT DELETE: $(join ', ' "${failed[@]}") ($(tail_of "$work/clean-bucket.log") $(tail_of "$work/clean-role.log")): delete them by hand."
    fi
  fi
  rm -rf "$work"
}

on_exit() {
  local status=$?
  if [ "$cleaned" = 0 ]; then
    cleanup
    echo "$me: stopped before the end (exit $status). $cleanup_note" >&2
    case $cleanup_note in COULD*) status=1 ;; esac
  fi
  exit "$status"
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers for the steps ---------------------------------------------------------------------

# new_queue SUFFIX: a scratch queue $base-SUFFIX; sets `queue` to its URL.
new_queue() {
  queue=$(awsx sqs create-queue --queue-name "$base-$1" | jq -r .QueueUrl) &&
    [ -n "$queue" ] && [ "$queue" != null ] || return 1
  queues+=("$queue")
}

# send BODIES QUEUE LOG: sends each line of BODIES unchanged, with the binary's own `requeue`
# (records of the quarantine's shape around each body, in LOG.records; SendMessageBatch, 10 a
# call).
send() {
  jq -R -c '{reason: "acceptance", message_id: "a\(input_line_number)", received_at: "2026-01-01T00:00:00Z", body: .}' \
    "$1" >"$3.records" &&
    "$bin" requeue --from "$3.records" --to "$2" >"$3" 2>&1 &&
    grep -q "sent $(wc -l <"$1" | tr -d ' '), failed 0" "$3"
}

# drain QUEUE DAY_PREFIX QUARANTINE_PREFIX REPORT LOG: one drain of QUEUE into the scratch bucket.
drain() {
  "$bin" drain --source "$1" --dest "s3://$bucket/$2" --quarantine "s3://$bucket/$3" \
    --report "$4" --wait-secs 1 --progress off >"$5" 2>&1
}

# depth QUEUE: "VISIBLE IN_FLIGHT", once both are 0 or after 30 s (SQS's counts are approximate).
depth() {
  local out d tries=0
  while :; do
    out=$(awsx sqs get-queue-attributes --queue-url "$1" \
      --attribute-names ApproximateNumberOfMessages ApproximateNumberOfMessagesNotVisible) || { echo "? ?"; return; }
    d=$(jq -r '"\(.Attributes.ApproximateNumberOfMessages) \(.Attributes.ApproximateNumberOfMessagesNotVisible)"' <<<"$out")
    if [ "$d" = "0 0" ] || [ $tries -ge 6 ]; then echo "$d"; return; fi
    tries=$((tries + 1))
    sleep 5
  done
}

# same_tree EXPECTED ACTUAL: nothing when ACTUAL holds exactly EXPECTED's files byte for byte,
# else what differs first.
same_tree() {
  local e a f out
  e=$(names "$1")
  a=$(names "$2")
  [ "$e" = "$a" ] || { echo "day files [${a% }], expected [${e% }]"; return; }
  for f in $e; do
    out=$(cmp "$1/$f" "$2/$f" 2>&1) || { echo "day $f differs from the expected: ${out#*: }"; return; }
  done
}

# The names of the files in a directory, sorted, on one line.
names() { find "$1" -type f 2>/dev/null | sed 's#.*/##' | LC_ALL=C sort | tr '\n' ' '; }

count_files() { find "$1" -type f 2>/dev/null | wc -l | tr -d ' '; }

# report_sum FIELD REPORT...: the sum of a report member over reports.
report_sum() {
  local field=$1
  shift
  jq -s --arg f "$field" 'map(.[$f] // 0) | add' "$@"
}

requests() { jq -s --arg r "$1" 'map(.requests[$r] // 0) | add' "${@:2}"; }

# --- the scratch resources ---------------------------------------------------------------------

say "account $account ($caller_arn), region $region, endpoint ${endpoint:-AWS}"
say "creating the scratch bucket $base (versioned); the queues are $base-*, the role $base"
if [ "$region" = us-east-1 ]; then location=(); else location=(--create-bucket-configuration "LocationConstraint=$region"); fi
if awsx s3api create-bucket --bucket "$base" ${location[@]+"${location[@]}"} >"$work/setup.log" 2>&1; then
  bucket=$base
  awsx s3api put-bucket-versioning --bucket "$bucket" --versioning-configuration Status=Enabled >>"$work/setup.log" 2>&1 ||
    { echo "$me: could not enable versioning on $bucket: $(tail_of "$work/setup.log")" >&2; exit 1; }
else
  echo "$me: could not create the scratch bucket $base: $(tail_of "$work/setup.log")" >&2
  exit 1
fi

# --- 1. the conformance sets -------------------------------------------------------------------

# Each set under c1/SET/, the three at once: its existing day files seeded, its messages sent to a
# queue of its own, one drain; then the day files against expected/ byte for byte, one quarantine
# object per quarantined message, the counts, and the queue empty.
conformance_set() {
  local set=$1
  new_queue "$set" || { echo "creating its queue failed" >"$work/fail-$set"; return; }
  echo "$queue" >"$work/queue-$set"
  send "$conformance/$set/messages.jsonl" "$queue" "$work/send-$set.log" ||
    { echo "sending its messages failed: $(tail_of "$work/send-$set.log")" >"$work/fail-$set"; return; }
  drain "$queue" "c1/$set/events/prod/" "c1/$set/events/quarantine/" "$work/report-$set.json" "$work/drain-$set.log" ||
    echo "the drain exited $?: $(tail_of "$work/drain-$set.log")" >"$work/fail-$set"
}

step1() {
  local set seed="$work/seed1" got="$work/got1" n d rep out c step
  local sets=(basic emulator malformed) ids=(1a 1b 1c) pids=()
  say "step 1: the conformance sets"
  for set in "${sets[@]}"; do
    mkdir -p "$seed/c1/$set/events/prod"
    cp "$conformance/$set/existing/"* "$seed/c1/$set/events/prod/" 2>/dev/null
  done
  awsx s3 cp --quiet --recursive "$seed" "s3://$bucket/" >"$work/seed1.log" 2>&1 || {
    for n in 0 1 2; do row "${ids[$n]} conformance set ${sets[$n]}" FAILED "seeding its day files: $(tail_of "$work/seed1.log")"; done
    return
  }
  for set in "${sets[@]}"; do
    conformance_set "$set" &
    pids+=($!)
    children+=($!)
  done
  wait "${pids[@]}"
  children=()
  for set in "${sets[@]}"; do
    [ -f "$work/queue-$set" ] || continue
    queues+=("$(cat "$work/queue-$set")")
    depth "$(cat "$work/queue-$set")" >"$work/depth-$set" &
  done
  awsx s3 cp --quiet --recursive "s3://$bucket/c1/" "$got" >"$work/got1.log" 2>&1
  local download=$?
  wait
  for n in 0 1 2; do
    set=${sets[$n]}
    step="${ids[$n]} conformance set $set"
    if [ -f "$work/fail-$set" ]; then row "$step" FAILED "$(cat "$work/fail-$set")"; continue; fi
    if [ "$download" != 0 ]; then row "$step" FAILED "downloading the bucket: $(tail_of "$work/got1.log")"; continue; fi
    rep="$work/report-$set.json"
    c="$conformance/$set/counts.json"
    n_msgs=$(wc -l <"$conformance/$set/messages.jsonl" | tr -d ' ')
    read -r received kept dropped quarantined deleted < <(jq -r '"\(.received) \(.kept) \(.dropped) \(.quarantined) \(.deleted)"' "$rep")
    read -r want_kept want_dropped want_quarantined < <(jq -r '"\(.kept) \(.dropped) \(.quarantined)"' "$c")
    days=$(count_files "$conformance/$set/expected")
    records=$(count_files "$got/$set/events/quarantine")
    d=$(cat "$work/depth-$set")
    out=$(same_tree "$conformance/$set/expected" "$got/$set/events/prod")
    if [ -n "$out" ]; then
      row "$step" FAILED "$out"
    elif [ "$records" != "$want_quarantined" ]; then
      row "$step" FAILED "$records quarantine objects, expected $want_quarantined (one per quarantined message)"
    elif [ "$((kept + dropped + quarantined))" != "$received" ] || [ "$deleted" != "$received" ] || [ "$received" -lt "$n_msgs" ]; then
      row "$step" FAILED "report: received $received of $n_msgs sent, kept $kept + dropped $dropped + quarantined $quarantined, deleted $deleted"
    elif [ "$received" = "$n_msgs" ] && [ "$kept $dropped $quarantined" != "$want_kept $want_dropped $want_quarantined" ]; then
      row "$step" FAILED "kept $kept, dropped $dropped, quarantined $quarantined; counts.json: $want_kept, $want_dropped, $want_quarantined"
    elif [ "$d" != "0 0" ]; then
      row "$step" FAILED "the queue still holds messages (visible, in flight: $d)"
    else
      row "$step" held "$days/$days day files byte for byte; $received received = $kept kept + $dropped dropped + $quarantined quarantined (as counts.json); $records quarantine objects; all deleted, queue empty"
    fi
  done
}

# --- 2. four writers at once -------------------------------------------------------------------

# MESSAGES bodies over 3 days, one in ten sent twice, drained by four drains at once into c2/.
step2() {
  local q distinct days=3 i pids=() rc=0 reps=() out d got="$work/got2" expect="$work/expect2"
  local step="2 four writers at once"
  say "step 2: four writers at once"
  distinct=$((messages - messages / 10))
  # The bodies (raw delivery) and, independently, the lines they make (the SPEC's format).
  awk -v n="$messages" -v distinct="$distinct" -v days="$days" -v bodies="$work/bodies2" -v lines="$work/lines2" 'BEGIN {
    for (i = 0; i < n; i++) {
      id = i % distinct
      ts = sprintf("2026-01-%02dT%02d:%02d:%02d+00:00", 1 + id % days, (id * 7) % 24, (id * 13) % 60, id % 60)
      printf "{\"timestamp\": \"%s\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"UserEvent\", \"UserEvent\": \"acceptance\", \"Channel\": \"PJSIP/acceptance-%06d\", \"endpoint\": \"acceptance-%06d\"}}\n", ts, id, id > bodies
      printf "%s\t{\"timestamp\": \"%s\", \"channel\": \"PJSIP/acceptance-%06d\", \"endpoint\": \"acceptance-%06d\", \"event\": \"acceptance\"}\n", substr(ts, 1, 4) substr(ts, 6, 2) substr(ts, 9, 2), ts, id, id > lines
    }
  }'
  mkdir -p "$expect"
  LC_ALL=C sort -u "$work/lines2" | awk -F'\t' -v dir="$expect" '{ print $2 > (dir "/" $1) }'
  new_queue writers || { row "$step" FAILED "creating the queue failed"; return; }
  q=$queue
  send "$work/bodies2" "$q" "$work/send2.log" || { row "$step" FAILED "sending the messages failed: $(tail_of "$work/send2.log")"; return; }
  say "step 2: $messages messages sent; four drains at once"
  for i in 1 2 3 4; do
    drain "$q" c2/events/prod/ c2/events/quarantine/ "$work/report2-$i.json" "$work/drain2-$i.log" &
    pids+=($!)
    children+=($!)
    reps+=("$work/report2-$i.json")
  done
  for i in 0 1 2 3; do wait "${pids[$i]}" || rc=$?; done
  children=()
  if [ "$rc" != 0 ]; then
    row "$step" FAILED "a drain exited $rc: $(for i in 1 2 3 4; do tail_of "$work/drain2-$i.log" 1; done)"
    return
  fi
  local received deleted conflicts per
  received=$(report_sum received "${reps[@]}")
  deleted=$(report_sum deleted "${reps[@]}")
  conflicts=$(report_sum conflict_retries "${reps[@]}")
  per=$(jq -s -r 'map(.received) | join("/")' "${reps[@]}")
  d=$(depth "$q")
  awsx s3 cp --quiet --recursive "s3://$bucket/c2/events/prod/" "$got" >"$work/got2.log" 2>&1 ||
    { row "$step" FAILED "downloading the day files: $(tail_of "$work/got2.log")"; return; }
  out=$(same_tree "$expect" "$got")
  "$bin" verify --dest "s3://$bucket/c2/events/prod/" >"$work/verify2.log" 2>&1
  local verify=$?
  if [ -n "$out" ]; then
    row "$step" FAILED "$out"
  elif [ "$verify" != 0 ]; then
    row "$step" FAILED "verify exited $verify: $(tail_of "$work/verify2.log")"
  elif [ "$received" -lt "$messages" ] || [ "$deleted" != "$received" ]; then
    row "$step" FAILED "received $received of $messages sent, deleted $deleted"
  elif [ "$d" != "0 0" ]; then
    row "$step" FAILED "the queue still holds messages (visible, in flight: $d)"
  else
    row "$step" held "$messages messages ($distinct distinct lines, $days days, one in ten sent twice) by 4 drains at once: every line once; received $received ($per), deleted $received; conflict retries: $conflicts; verify clean; queue empty"
  fi
}

# --- 3. a multipart day, two writers at once ---------------------------------------------------

# A day file above the multipart threshold seeded under c3/, new lines for it, two drains at once
# (parts of 5 MiB, S3's minimum, above 8 MiB, so the day goes up in parts); again, up to 3
# rounds, until the writers collided (a conflict retry: S3 refused the slower one's
# CompleteMultipartUpload with If-Match). Then every seeded and new line once in the day file.
step3() {
  local q key="c3/events/prod/20260110" round lines=0 seed_lines=85000 new=200 conflicts=0 rc pids
  local completes=0 parts=0 reps=() data="3a multipart day, two writers: every line" atom="3b multipart day, two writers: If-Match"
  local threshold=$((8 << 20)) part=$((5 << 20))
  say "step 3: a multipart day, two drains at once"
  mkdir -p "$work/got3"
  awk -v n="$seed_lines" 'BEGIN { for (i = 0; i < n; i++) printf "{\"timestamp\": \"2026-01-10T00:00:00+00:00\", \"channel\": \"PJSIP/seed-%07d\", \"endpoint\": \"seed-%07d\", \"event\": \"acceptance\"}\n", i, i }' |
    LC_ALL=C sort >"$work/seed3"
  cp "$work/seed3" "$work/expect3"
  local seed_bytes
  seed_bytes=$(wc -c <"$work/seed3" | tr -d ' ')
  new_queue multipart || { row "$data" FAILED "creating the queue failed"; row "$atom" FAILED "not run"; return; }
  q=$queue
  awsx s3 cp --quiet "$work/seed3" "s3://$bucket/$key" >"$work/seed3.log" 2>&1 ||
    { row "$data" FAILED "seeding the day: $(tail_of "$work/seed3.log")"; row "$atom" FAILED "not run"; return; }
  for round in 1 2 3; do
    awk -v n="$new" -v r="$round" 'BEGIN { for (i = 0; i < n; i++) printf "{\"timestamp\": \"2026-01-10T12:00:00+00:00\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"UserEvent\", \"UserEvent\": \"acceptance\", \"Channel\": \"PJSIP/round%d-%04d\", \"endpoint\": \"round%d-%04d\"}}\n", r, i, r, i }' >"$work/bodies3-$round"
    awk -v n="$new" -v r="$round" 'BEGIN { for (i = 0; i < n; i++) printf "{\"timestamp\": \"2026-01-10T12:00:00+00:00\", \"channel\": \"PJSIP/round%d-%04d\", \"endpoint\": \"round%d-%04d\", \"event\": \"acceptance\"}\n", r, i, r, i }' >>"$work/expect3"
    send "$work/bodies3-$round" "$q" "$work/send3.log" ||
      { row "$data" FAILED "sending the messages failed: $(tail_of "$work/send3.log")"; row "$atom" FAILED "not run"; return; }
    pids=() rc=0
    for i in 1 2; do
      S3EW_MULTIPART_THRESHOLD_BYTES=$threshold S3EW_PART_SIZE_BYTES=$part \
        drain "$q" c3/events/prod/ c3/events/quarantine/ "$work/report3-$round-$i.json" "$work/drain3-$round-$i.log" &
      pids+=($!)
      children+=($!)
      reps+=("$work/report3-$round-$i.json")
    done
    for i in 0 1; do wait "${pids[$i]}" || rc=$?; done
    children=()
    if [ "$rc" != 0 ]; then
      row "$data" FAILED "round $round: a drain exited $rc: $(tail_of "$work/drain3-$round-1.log" 1) $(tail_of "$work/drain3-$round-2.log" 1)"
      row "$atom" FAILED "not shown: a drain failed"
      return
    fi
    conflicts=$(report_sum conflict_retries "${reps[@]}")
    [ "$conflicts" -eq 0 ] || break
  done
  completes=$(requests s3:CompleteMultipartUpload "${reps[@]}")
  parts=$(requests s3:UploadPart "${reps[@]}")
  LC_ALL=C sort -o "$work/expect3" "$work/expect3"
  lines=$(wc -l <"$work/expect3" | tr -d ' ')
  awsx s3 cp --quiet "s3://$bucket/$key" "$work/got3/day" >"$work/got3.log" 2>&1 ||
    { row "$data" FAILED "downloading the day: $(tail_of "$work/got3.log")"; row "$atom" FAILED "not shown"; return; }
  local sizes="seeded $((seed_bytes >> 20)).$(((seed_bytes & 1048575) * 10 >> 20)) MiB ($seed_lines lines; threshold 8 MiB, parts 5 MiB)"
  local traffic="$((round * new)) new lines by 2 drains at once (rounds of $new: $round); CompleteMultipartUpload: $completes, UploadPart: $parts, conflict retries: $conflicts"
  if cmp -s "$work/expect3" "$work/got3/day"; then
    row "$data" held "$sizes: all $lines lines once; $traffic"
    if [ "$on_aws" = 0 ]; then
      row "$atom" "not shown on this endpoint" "its CompleteMultipartUpload conditions are not atomic (conflict retries seen: $conflicts); on S3 a retry here is the If-Match refusing the slower writer"
    elif [ "$conflicts" -gt 0 ]; then
      row "$atom" held "the writers collided: S3 refused the slower CompleteMultipartUpload (If-Match) $conflicts time(s), the writer merged again, no line lost"
    else
      row "$atom" "not shown" "the two writers did not collide in $round rounds; run again"
    fi
    return
  fi
  # Lines are missing: were they never written, or overwritten by a writer that completed on an
  # old version (the lost update that If-Match prevents)? Every version of the day tells.
  local versions v n=0 prev='' lost_update=0 missing never
  missing=$(LC_ALL=C comm -23 "$work/expect3" "$work/got3/day" | wc -l | tr -d ' ')
  # Oldest first (S3 lists a key's versions newest first).
  versions=$(awsx s3api list-object-versions --bucket "$bucket" --prefix "$key" |
    jq -r --arg k "$key" '[(.Versions // [])[] | select(.Key == $k)] | reverse | .[].VersionId') || versions=''
  : >"$work/union3"
  for v in $versions; do
    n=$((n + 1))
    awsx s3api get-object --bucket "$bucket" --key "$key" --version-id "$v" "$work/got3/v$n" >/dev/null 2>&1 || continue
    if [ -n "$prev" ] && [ "$(LC_ALL=C comm -23 "$prev" "$work/got3/v$n" | wc -l)" -gt 0 ]; then lost_update=1; fi
    cat "$work/got3/v$n" >>"$work/union3"
    prev="$work/got3/v$n"
  done
  LC_ALL=C sort -u -o "$work/union3" "$work/union3"
  never=$(LC_ALL=C comm -23 "$work/expect3" "$work/union3" | wc -l | tr -d ' ')
  if [ "$on_aws" = 0 ] && [ "$never" = 0 ] && [ "$lost_update" = 1 ]; then
    row "$data" "not shown on this endpoint" "$sizes: $missing of $lines lines missing, each in an earlier version: the endpoint let a writer complete on an old version (its conditions are not atomic); $traffic"
    row "$atom" "not shown on this endpoint" "its CompleteMultipartUpload conditions are not atomic"
  else
    row "$data" FAILED "$sizes: $missing of $lines lines missing ($never never written, lost update between versions: $([ $lost_update = 1 ] && echo yes || echo no)); $traffic"
    row "$atom" FAILED "$([ $lost_update = 1 ] && echo "a writer completed on an old version: If-Match did not hold" || echo "lines lost")"
  fi
}

# --- 4. the writer policy ----------------------------------------------------------------------

day_prefix=events/prod/ quarantine_prefix=events/quarantine/ policy_bucket='' policy_error=''
if [ -n "$policy_file" ]; then
  # The policy's production bucket, and its two object prefixes: the quarantine's (ending in
  # quarantine/) and the day files'.
  policy_bucket=$(jq -r '[.Statement | if type == "array" then .[] else . end | .Resource // empty
      | if type == "array" then .[] else . end | select(test("^arn:[^:]+:s3:::")) | capture("^arn:[^:]+:s3:::(?<b>[^/]+)").b]
      | unique | if length == 1 then .[0] else "" end' "$policy_file")
  prefixes=$(jq -r '[.Statement | if type == "array" then .[] else . end | .Resource // empty
      | if type == "array" then .[] else . end | select(test("^arn:[^:]+:s3:::[^/]+/.+\\*$")) | capture("^arn:[^:]+:s3:::[^/]+/(?<p>.+)\\*$").p]
      | unique | .[]' "$policy_file")
  q_p=$(printf '%s\n' "$prefixes" | grep -E '(^|/)quarantine/$' | head -n 1)
  d_p=$(printf '%s\n' "$prefixes" | grep -v -E '(^|/)quarantine/$' | head -n 1)
  if [ -z "$policy_bucket" ]; then
    policy_error="the policy names no single S3 bucket"
  elif [ "$(printf '%s\n' "$prefixes" | grep -c .)" != 2 ] || [ -z "$q_p" ] || [ -z "$d_p" ]; then
    policy_error="the policy's object resources are not one day prefix and one prefix ending in quarantine/: $(printf %s "$prefixes" | tr '\n' ' ')"
  elif ! jq -e '[.Statement | if type == "array" then .[] else . end | .Resource // empty | if type == "array" then .[] else . end | select(test("^arn:[^:]+:sqs:"))] | length > 0' "$policy_file" >/dev/null; then
    policy_error="the policy names no SQS queue"
  else
    day_prefix=$d_p quarantine_prefix=$q_p
  fi
fi

# The policy, its bucket and queue pointed at the scratch ones: its statements otherwise unchanged.
scratch_policy() {
  jq --arg prod "$policy_bucket" --arg scratch "$bucket" --arg queue "$1" '
    def rewrite:
      if type != "string" then .
      elif test("^arn:[^:]+:s3:::") then
        capture("^arn:(?<p>[^:]+):s3:::(?<b>[^/]+)(?<rest>/.*)?$") as $m
        | if $m.b == $prod then "arn:\($m.p):s3:::\($scratch)\($m.rest // "")" else . end
      elif test("^arn:[^:]+:sqs:") then $queue
      else . end;
    .Statement |= ((if type == "array" then . else [.] end)
      | map(if has("Resource") then .Resource |= (if type == "array" then map(rewrite) | unique else rewrite end) else . end))
  ' "$policy_file"
}

role_key='' role_secret='' role_token=''
as_role() (
  unset AWS_PROFILE AWS_DEFAULT_PROFILE
  export AWS_ACCESS_KEY_ID="$role_key" AWS_SECRET_ACCESS_KEY="$role_secret" AWS_SESSION_TOKEN="$role_token"
  "$@"
)

# probe WHAT COMMAND...: "denied", "allowed" or "error: ..." for a call as the role.
probe() {
  local action=$1 out
  shift
  if out=$(as_role awsx "$@" 2>&1); then
    echo "allowed"
  elif printf %s "$out" | grep -q -E 'AccessDenied|not authorized|UnauthorizedOperation'; then
    echo "denied"
  else
    echo "error: $action: $(printf %s "$out" | tr '\n' ' ' | cut -c1-200)"
  fi
}

doctor_queue=''
step4() {
  local drain_row="4a writer policy: a drain as the role" deny_row="4b writer policy: other actions denied"
  if [ -z "$policy_file" ]; then
    row "$drain_row" skipped "pass --writer-policy FILE (terraform output -raw writer_policy_json)"
    row "$deny_row" skipped "pass --writer-policy FILE"
    return
  fi
  if [ -n "$policy_error" ]; then
    row "$drain_row" FAILED "--writer-policy $policy_file: $policy_error"
    row "$deny_row" FAILED "not run"
    return
  fi
  say "step 4: the writer policy on a scratch role"
  local q q_arn creds tries out put del rc
  new_queue writer || { row "$drain_row" FAILED "creating the queue failed"; row "$deny_row" FAILED "not run"; return; }
  q=$queue
  doctor_queue=$q
  q_arn=$(awsx sqs get-queue-attributes --queue-url "$q" --attribute-names QueueArn | jq -r .Attributes.QueueArn) || q_arn=''
  scratch_policy "$q_arn" >"$work/policy.json" || { row "$drain_row" FAILED "rewriting the policy failed"; row "$deny_row" FAILED "not run"; return; }
  jq -n --arg p "arn:$partition:iam::$account:root" \
    '{Version: "2012-10-17", Statement: [{Effect: "Allow", Principal: {AWS: $p}, Action: "sts:AssumeRole"}]}' >"$work/trust.json"
  if awsx iam create-role --role-name "$base" --assume-role-policy-document "file://$work/trust.json" \
    --description "s3-event-writer acceptance run: scratch, deleted at its end" >"$work/role.log" 2>&1; then
    role=$base
  else
    row "$drain_row" FAILED "creating the role failed: $(tail_of "$work/role.log")"
    row "$deny_row" FAILED "not run"
    return
  fi
  awsx iam put-role-policy --role-name "$role" --policy-name writer --policy-document "file://$work/policy.json" >>"$work/role.log" 2>&1 ||
    { row "$drain_row" FAILED "putting the policy failed: $(tail_of "$work/role.log")"; row "$deny_row" FAILED "not run"; return; }
  # A new role can be assumed, and its policy applies, some seconds after IAM says it exists.
  for tries in $(seq 1 20); do
    creds=$(awsx sts assume-role --role-arn "arn:$partition:iam::$account:role/$role" --role-session-name s3ew-acceptance 2>"$work/assume.log") && break
    creds=''
    if grep -q "root account" "$work/assume.log"; then
      row "$drain_row" FAILED "the root user cannot assume a role: run this as an IAM user or role"
      row "$deny_row" FAILED "not run"
      return
    fi
    sleep 3
  done
  [ -n "$creds" ] || { row "$drain_row" FAILED "assuming the role failed for a minute: $(tail_of "$work/assume.log")"; row "$deny_row" FAILED "not run"; return; }
  role_key=$(jq -r .Credentials.AccessKeyId <<<"$creds")
  role_secret=$(jq -r .Credentials.SecretAccessKey <<<"$creds")
  role_token=$(jq -r .Credentials.SessionToken <<<"$creds")
  for tries in $(seq 1 20); do
    as_role awsx sqs get-queue-attributes --queue-url "$q" --attribute-names QueueArn >/dev/null 2>&1 &&
      as_role awsx s3api list-objects-v2 --bucket "$bucket" --prefix "$day_prefix" --max-keys 1 >/dev/null 2>&1 && break
    sleep 3
  done
  # 20 lines for two days and 2 bodies to quarantine, drained as the role into the policy's
  # own prefixes.
  awk 'BEGIN { for (i = 0; i < 20; i++) printf "{\"timestamp\": \"2026-02-%02dT10:00:%02d+00:00\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"UserEvent\", \"UserEvent\": \"acceptance\", \"Channel\": \"PJSIP/role-%02d\", \"endpoint\": \"role-%02d\"}}\n", 1 + i % 2, i, i, i
               print "not json: quarantined"; print "{\"timestamp\": \"2026-02-30T10:00:00+00:00\", \"hostname\": \"futel-prod-back\", \"event\": {\"Event\": \"UserEvent\", \"Channel\": \"PJSIP/role\"}}" }' >"$work/bodies4"
  send "$work/bodies4" "$q" "$work/send4.log" ||
    { row "$drain_row" FAILED "sending the messages failed: $(tail_of "$work/send4.log")"; row "$deny_row" FAILED "not run"; return; }
  as_role drain "$q" "$day_prefix" "$quarantine_prefix" "$work/report4.json" "$work/drain4.log"
  rc=$?
  local who
  who=$(jq -r '.AssumedRoleUser.Arn // empty' <<<"$creds")
  if [ "$rc" != 0 ]; then
    row "$drain_row" FAILED "the drain as $who exited $rc: $(tail_of "$work/drain4.log" 2)"
  else
    read -r received kept quarantined deleted written < <(jq -r '"\(.received) \(.kept) \(.quarantined) \(.deleted) \(.quarantine_written)"' "$work/report4.json")
    if [ "$kept" -ge 20 ] && [ "$quarantined" -ge 2 ] && [ "$written" = 2 ] && [ "$deleted" = "$received" ]; then
      row "$drain_row" held "as $who, the policy's statements on the scratch bucket and queue: $received received, $kept kept into 2 day files under $day_prefix, 2 quarantine records under $quarantine_prefix, $deleted deleted; exit 0"
    else
      row "$drain_row" FAILED "as $who: received $received, kept $kept (20 sent), quarantined $quarantined (2 sent), records written $written, deleted $deleted"
    fi
  fi
  : >"$work/empty"
  put=$(probe "PutObject outside the prefixes" s3api put-object --bucket "$bucket" --key "acceptance-outside-the-policy" --body "$work/empty")
  del=$(probe "DeleteObject of a day file" s3api delete-object --bucket "$bucket" --key "${day_prefix}20260201")
  if [ "$put $del" = "denied denied" ]; then
    row "$deny_row" held "as the role: PutObject outside $day_prefix and $quarantine_prefix, and DeleteObject of a day file: both AccessDenied"
  elif [ "${put%%:*}" = error ] || [ "${del%%:*}" = error ]; then
    row "$deny_row" FAILED "$put; $del"
  elif [ "$on_aws" = 0 ]; then
    row "$deny_row" "not shown on this endpoint" "it does not enforce IAM: PutObject outside the prefixes $put, DeleteObject of a day file $del"
  else
    row "$deny_row" FAILED "as the role: PutObject outside the prefixes $put, DeleteObject of a day file $del (expected: denied)"
  fi
}

# --- 5. doctor ---------------------------------------------------------------------------------

step5() {
  local q who rc summary
  say "step 5: doctor"
  q=$doctor_queue
  if [ -z "$q" ]; then
    new_queue doctor || { row "5 doctor" FAILED "creating the queue failed"; return; }
    q=$queue
  fi
  if [ -n "$role_key" ]; then
    who="as the writer role"
    as_role "$bin" doctor --source "$q" --dest "s3://$bucket/$day_prefix" --quarantine "s3://$bucket/$quarantine_prefix" --write-probe >"$work/doctor.out" 2>"$work/doctor.err"
  else
    who="as you"
    "$bin" doctor --source "$q" --dest "s3://$bucket/$day_prefix" --quarantine "s3://$bucket/$quarantine_prefix" --write-probe >"$work/doctor.out" 2>"$work/doctor.err"
  fi
  rc=$?
  cp "$work/doctor.out" "$work/checklist"
  summary=$(tail -n 1 "$work/doctor.out")
  if [ "$rc" = 0 ]; then
    row "5 doctor" held "$who, --write-probe: exit 0; $summary (checklist below)"
  else
    row "5 doctor" FAILED "$who, --write-probe: exit $rc; $summary $(tail_of "$work/doctor.err" 2) (checklist below)"
  fi
}

for n in 1 2 3 4 5; do
  if wanted "$n"; then
    "step$n"
  else
    case $n in
      1) for s in "1a conformance set basic" "1b conformance set emulator" "1c conformance set malformed"; do row "$s" skipped "not in --steps"; done ;;
      2) row "2 four writers at once" skipped "not in --steps" ;;
      3) row "3a multipart day, two writers: every line" skipped "not in --steps"; row "3b multipart day, two writers: If-Match" skipped "not in --steps" ;;
      4) row "4a writer policy: a drain as the role" skipped "not in --steps"; row "4b writer policy: other actions denied" skipped "not in --steps" ;;
      5) row "5 doctor" skipped "not in --steps" ;;
    esac
  fi
done

checklist=''
[ -f "$work/checklist" ] && checklist=$(cat "$work/checklist")
elapsed=$SECONDS
cleanup

# --- the table ---------------------------------------------------------------------------------

md() { printf %s "$1" | sed 's/|/\\|/g'; }
n_failed=0
for r in "${row_results[@]}"; do [ "$r" != FAILED ] || n_failed=$((n_failed + 1)); done
case $cleanup_note in COULD*) n_failed=$((n_failed + 1)) ;; esac
if [ "$on_aws" = 1 ]; then
  where="${endpoint:-AWS (the default endpoints)}"
else
  where="$endpoint: not AWS, so what depends on AWS itself is \"not shown on this endpoint\""
fi
{
  echo "## s3-event-writer acceptance run"
  echo
  echo "| | |"
  echo "| --- | --- |"
  echo "| endpoint | $(md "$where") |"
  echo "| account | $account ($(md "$caller_arn")) |"
  echo "| region | $region |"
  echo "| binary | $(md "$bin_version") ($(md "$bin")) |"
  echo "| AWS CLI | $(md "$(aws --version 2>&1 | head -n 1)") |"
  echo "| scratch | bucket $base (versioned), queues $base-*${role:+, IAM role $role} |"
  echo "| started | $started, $elapsed s |"
  echo
  echo "| step | result | detail |"
  echo "| --- | --- | --- |"
  for i in "${!row_steps[@]}"; do
    echo "| $(md "${row_steps[$i]}") | ${row_results[$i]} | $(md "${row_details[$i]}") |"
  done
  echo
  if [ "$n_failed" = 0 ]; then echo "Nothing FAILED. $cleanup_note"; else echo "$n_failed FAILED. $cleanup_note"; fi
  if [ -n "$checklist" ]; then
    echo
    echo "doctor's checklist (step 5):"
    echo
    echo '```'
    printf '%s\n' "$checklist"
    echo '```'
  fi
}
[ "$n_failed" = 0 ]
