#!/usr/bin/env python3
"""Realistic SNS envelope bodies for the benchmarks (docs/PERFORMANCE.md).

usage: gen_messages.py N DAYS OUT.jsonl [--start YYYY-MM-DD] [--seed S] [--redeliver FRACTION]

Writes N message bodies, one a line. Each body is one of the conformance set's bodies
(tests/fixtures/conformance/basic/messages.jsonl, about 1.2 KB each, every shape and host mix
of the real feed) used as a template, with:

- the event's timestamp (and the envelope's Timestamp) moved to a random second of one of DAYS
  consecutive days from --start (default 2026-11-20), keeping the template's own format
  (offset, fractional seconds); bodies without an event timestamp keep using the envelope's;
- the 8-hex-digit channel ids (PJSIP/twilio-000d3be7, Local/followme-operator@default-...;1)
  and the Asterisk Uniqueid/Linkedid redrawn, so lines are new rather than duplicates;
- a fresh MessageId;
- a fraction (--redeliver, default 0.01) of bodies repeated verbatim, as SNS/SQS deliver at
  least once.

Host, channel kind, event name and endpoint are the template's, so the kept/dropped mix is the
conformance set's (about 82.5 % kept, 17.5 % dropped, none quarantined). Deterministic: the
same arguments give the same file, byte for byte.
"""
import argparse
import datetime as dt
import json
import os
import random
import re
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
TEMPLATES = os.path.join(HERE, "..", "tests", "fixtures", "conformance", "basic", "messages.jsonl")
HEX8 = re.compile(r"[0-9a-f]{8}")
# date, 'T', time; the rest (fraction, offset, 'Z') is kept from the template
STAMP = re.compile(r"^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})(\.\d+)?(.*)$")


def restamp(ts, day, secs, rng):
    m = STAMP.match(ts)
    if not m:
        return ts
    frac = m.group(3)
    if frac:
        frac = "." + "".join(rng.choice("0123456789") for _ in range(len(frac) - 1))
    else:
        frac = ""
    hh, rest = divmod(secs, 3600)
    mm, ss = divmod(rest, 60)
    return "%sT%02d:%02d:%02d%s%s" % (day.isoformat(), hh, mm, ss, frac, m.group(4))


def uuid(rng):
    h = "%032x" % rng.getrandbits(128)
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def load_templates():
    out = []
    with open(TEMPLATES, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                out.append(json.loads(line))
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("n", type=int)
    p.add_argument("days", type=int)
    p.add_argument("out")
    p.add_argument("--start", default="2026-11-20")
    p.add_argument("--seed", type=int, default=20261120)
    p.add_argument("--redeliver", type=float, default=0.01)
    a = p.parse_args()
    if a.n < 0 or a.days < 1:
        p.error("N must be >= 0 and DAYS >= 1")
    rng = random.Random(a.seed)
    templates = load_templates()
    start = dt.date.fromisoformat(a.start)
    days = [start + dt.timedelta(days=i) for i in range(a.days)]
    recent = []
    total = 0
    with open(a.out, "w", encoding="utf-8", newline="\n") as out:
        for _ in range(a.n):
            if recent and rng.random() < a.redeliver:
                body = rng.choice(recent)
            else:
                env = dict(rng.choice(templates))
                msg = json.loads(env["Message"])
                event = dict(msg.get("event") or {})
                day = rng.choice(days)
                secs = rng.randrange(86400)
                if isinstance(msg.get("timestamp"), str):
                    msg["timestamp"] = restamp(msg["timestamp"], day, secs, rng)
                if isinstance(env.get("Timestamp"), str):
                    env["Timestamp"] = restamp(env["Timestamp"], day, secs, rng)
                if isinstance(event.get("Channel"), str):
                    event["Channel"] = HEX8.sub(lambda _m: "%08x" % rng.getrandbits(32), event["Channel"])
                for k in ("Uniqueid", "Linkedid"):
                    if isinstance(event.get(k), str):
                        event[k] = "%d.%d" % (rng.randrange(1_700_000_000, 1_800_000_000), rng.randrange(100_000))
                if msg.get("event") is not None:
                    msg["event"] = event
                env["Message"] = json.dumps(msg)
                env["MessageId"] = uuid(rng)
                body = json.dumps(env)
                if len(recent) < 1000:
                    recent.append(body)
                else:
                    recent[rng.randrange(1000)] = body
            out.write(body)
            out.write("\n")
            total += len(body) + 1
    print(f"wrote {a.n} bodies ({total / max(a.n, 1):.0f} B avg, {total / 1e6:.1f} MB) over "
          f"{a.days} day(s) from {a.start} to {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
