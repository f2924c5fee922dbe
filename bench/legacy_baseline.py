#!/usr/bin/env python3
"""Baseline: the SPEC's classification and line format with the standard `json` module.

This is how the legacy writer worked (whole day files in memory, Python's json), kept as the
yardstick the Rust writer is measured against in the same run (see docs/PERFORMANCE.md), and as
an independent reading of ../shared/SPEC.md.

usage: legacy_baseline.py MESSAGES.jsonl DEST_DIR [--report FILE]
"""
import json
import os
import sys
from collections import defaultdict

PROD_HOSTS = {"futel-prod.phu73l.net", "futel-prod-back", "dialplan-functions-prod"}
DROP_CHANNEL_SUBSTRINGS = ["followme-operator"]
DROP_EVENTS = {"Registry", "PeerStatus"}
DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


def valid_day(ts):
    d = ts[:10]
    if len(d) != 10 or d[4] != "-" or d[7] != "-":
        return None
    y, m, dd = d[0:4], d[5:7], d[8:10]
    if not (y.isascii() and y.isdigit() and m.isascii() and m.isdigit() and dd.isascii() and dd.isdigit()):
        return None
    y, m, dd = int(y), int(m), int(dd)
    if y < 1 or not 1 <= m <= 12:
        return None
    leap = y % 4 == 0 and (y % 100 != 0 or y % 400 == 0)
    limit = 29 if (m == 2 and leap) else DAYS_IN_MONTH[m - 1]
    if not 1 <= dd <= limit:
        return None
    return "%04d%02d%02d" % (y, m, dd)


def classify(body):
    """-> ("keep", day, line) | ("drop", reason, value) | ("quarantine", reason)"""
    try:
        outer = json.loads(body)
    except ValueError:
        return ("quarantine", "not_json")
    if not isinstance(outer, dict):
        return ("quarantine", "not_object")
    envelope = None
    if "Message" in outer or outer.get("Type") == "Notification":
        envelope = outer
        if "Message" not in outer:
            return ("quarantine", "envelope_without_message")
        if not isinstance(outer["Message"], str):
            return ("quarantine", "message_not_string")
        try:
            message = json.loads(outer["Message"])
        except ValueError:
            return ("quarantine", "message_not_json")
        if not isinstance(message, dict):
            return ("quarantine", "message_not_object")
    else:
        message = outer
    event = message.get("event")
    if not isinstance(event, dict):
        return ("quarantine", "no_event_object")
    fields = [(event, "UserEvent"), (event, "Event"), (message, "timestamp"), (event, "Channel"),
              (event, "endpoint"), (message, "hostname")]
    if envelope is not None:
        fields.append((envelope, "Timestamp"))
    for obj, key in fields:
        if key in obj and not isinstance(obj[key], str):
            return ("quarantine", "field_not_string:" + key)
    name = event.get("UserEvent", event.get("Event"))
    if "timestamp" in message:
        ts = message["timestamp"]
    elif envelope is not None:
        ts = envelope.get("Timestamp")
    else:
        ts = None
    channel = event.get("Channel", "")
    endpoint = event.get("endpoint", channel)
    hostname = message.get("hostname")
    if hostname not in PROD_HOSTS:
        return ("drop", "hostname", hostname or "")
    if channel == "" or any(s in channel for s in DROP_CHANNEL_SUBSTRINGS):
        return ("drop", "channel", channel)
    if name is None or name in DROP_EVENTS:
        return ("drop", "event", name or "")
    day = valid_day(ts) if ts is not None else None
    if day is None:
        return ("quarantine", "bad_timestamp")
    line = json.dumps({"timestamp": ts, "channel": channel, "endpoint": endpoint, "event": name})
    return ("keep", day, line)


def main():
    src, dest = sys.argv[1], sys.argv[2]
    report_path = sys.argv[sys.argv.index("--report") + 1] if "--report" in sys.argv else None
    counts = {"received": 0, "kept": 0, "dropped": 0, "quarantined": 0}
    dropped_by = defaultdict(lambda: defaultdict(int))
    new = defaultdict(set)
    with open(src, encoding="utf-8", errors="surrogateescape") as f:
        for body in f:
            body = body.rstrip("\n")
            if not body.strip():
                continue
            counts["received"] += 1
            outcome = classify(body)
            if outcome[0] == "keep":
                counts["kept"] += 1
                new[outcome[1]].add(outcome[2])
            elif outcome[0] == "drop":
                counts["dropped"] += 1
                dropped_by[outcome[1]][outcome[2]] += 1
            else:
                counts["quarantined"] += 1
    os.makedirs(dest, exist_ok=True)
    days = {}
    for day, lines in new.items():
        path = os.path.join(dest, day)
        existing = set()
        if os.path.exists(path):
            with open(path, encoding="utf-8") as f:
                existing = {l.rstrip() for l in f if l.strip()}
        merged = sorted(existing | lines, key=lambda s: s.encode("utf-8"))
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(l + "\n" for l in merged))
        days[day] = {"new_lines": len(merged) - len(existing), "total_lines": len(merged)}
    report = dict(counts, deleted=0, dropped_by={k: dict(v) for k, v in dropped_by.items()}, days=days)
    if report_path:
        with open(report_path, "w") as f:
            json.dump(report, f)
    print(json.dumps({k: report[k] for k in ("received", "kept", "dropped", "quarantined")}), file=sys.stderr)


if __name__ == "__main__":
    main()
