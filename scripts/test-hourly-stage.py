#!/usr/bin/env python3
"""Runs the stage step of .github/workflows/hourly.yml (its `run:` script, taken from the file
as GitHub runs it: bash -eo pipefail) against repository variables, and checks what it chooses
and what it refuses: prod and shadow variables, a destination or quarantine of the wrong stage,
a missing variable, an unknown stage. Needs PyYAML (scripts/lint-deploy.sh runs it with the
checkov venv's Python). Prints 'N passed, N failed'; exit status 1 if any case failed."""

import os
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKFLOW = os.path.join(ROOT, ".github", "workflows", "hourly.yml")

PROD = {
    "WRITER_ROLE_ARN": "arn:aws:iam::123456789012:role/s3-event-writer-github",
    "QUEUE_URL": "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer",
    "S3EW_DEST": "s3://logpublish/events/prod/",
}
SHADOW = {
    "SHADOW_WRITER_ROLE_ARN": "arn:aws:iam::123456789012:role/s3-event-writer-shadow-github",
    "SHADOW_QUEUE_URL": "https://sqs.us-west-2.amazonaws.com/123456789012/s3-event-writer-shadow",
    "SHADOW_S3EW_DEST": "s3://logpublish/events/shadow/",
    "SHADOW_S3EW_QUARANTINE": "s3://logpublish/quarantine/shadow/",
}


def stage_script():
    with open(WORKFLOW, encoding="utf-8") as f:
        workflow = yaml.safe_load(f)
    steps = workflow["jobs"]["drain"]["steps"]
    (step,) = [s for s in steps if s.get("id") == "stage"]
    # The names the step maps from repository variables; GitHub sets each, empty when unset.
    return step["run"], list(step["env"])


def run(variables):
    script, names = stage_script()
    with tempfile.NamedTemporaryFile("r", suffix=".out") as out:
        env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": out.name}
        env.update({name: variables.get(name, "") for name in names})
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        outputs = dict(line.split("=", 1) for line in out.read().splitlines())
    return proc.returncode, proc.stdout + proc.stderr, outputs


CASES = [
    # (name, variables, expected exit status, text the log must contain, expected outputs)
    (
        "unset stage is prod",
        {**PROD, **SHADOW},
        0,
        "::notice title=stage prod::",
        {"stage": "prod", "role": PROD["WRITER_ROLE_ARN"], "queue_url": PROD["QUEUE_URL"],
         "dest": PROD["S3EW_DEST"], "quarantine": "", "namespace": ""},
    ),
    (
        "prod passes its quarantine and namespace",
        {**PROD, "S3EW_STAGE": "prod", "S3EW_QUARANTINE": "s3://logpublish/events/quarantine/",
         "S3EW_METRICS_NAMESPACE": "writer"},
        0,
        "",
        {"stage": "prod", "quarantine": "s3://logpublish/events/quarantine/", "namespace": "writer"},
    ),
    (
        "shadow takes the SHADOW_ variables and its own namespace",
        {**PROD, **SHADOW, "S3EW_STAGE": "shadow", "S3EW_METRICS_NAMESPACE": "writer"},
        0,
        "::notice title=stage shadow::",
        {"stage": "shadow", "role": SHADOW["SHADOW_WRITER_ROLE_ARN"],
         "queue_url": SHADOW["SHADOW_QUEUE_URL"], "dest": SHADOW["SHADOW_S3EW_DEST"],
         "quarantine": SHADOW["SHADOW_S3EW_QUARANTINE"], "namespace": "s3-event-writer-shadow"},
    ),
    (
        "shadow namespace variable",
        {**SHADOW, "S3EW_STAGE": "shadow", "SHADOW_S3EW_METRICS_NAMESPACE": "shadow-ns"},
        0,
        "",
        {"namespace": "shadow-ns"},
    ),
    (
        "prod refuses a shadow destination",
        {**PROD, "S3EW_DEST": "s3://logpublish/events/shadow/"},
        1,
        "::error::stage prod refuses S3EW_DEST='s3://logpublish/events/shadow/'",
        {},
    ),
    (
        "prod refuses a shadow quarantine",
        {**PROD, "S3EW_QUARANTINE": "s3://logpublish/quarantine/shadow/"},
        1,
        "::error::stage prod refuses S3EW_QUARANTINE=",
        {},
    ),
    (
        "shadow refuses the production destination",
        {**SHADOW, "S3EW_STAGE": "shadow", "SHADOW_S3EW_DEST": "s3://logpublish/events/prod/"},
        1,
        "::error::stage shadow refuses SHADOW_S3EW_DEST='s3://logpublish/events/prod/'",
        {},
    ),
    (
        "shadow refuses the production quarantine",
        {**SHADOW, "S3EW_STAGE": "shadow",
         "SHADOW_S3EW_QUARANTINE": "s3://logpublish/events/quarantine/"},
        1,
        "::error::stage shadow refuses SHADOW_S3EW_QUARANTINE=",
        {},
    ),
    (
        "a segment must be exactly shadow",
        {**SHADOW, "S3EW_STAGE": "shadow", "SHADOW_S3EW_DEST": "s3://logpublish/events/shadowy/"},
        1,
        "::error::stage shadow refuses SHADOW_S3EW_DEST=",
        {},
    ),
    (
        "a bucket named shadow is not a shadow prefix",
        {**SHADOW, "S3EW_STAGE": "shadow", "SHADOW_S3EW_DEST": "s3://shadow/events/prod/"},
        1,
        "::error::stage shadow refuses SHADOW_S3EW_DEST=",
        {},
    ),
    (
        "shadow needs its quarantine",
        {**PROD, **{k: v for k, v in SHADOW.items() if k != "SHADOW_S3EW_QUARANTINE"},
         "S3EW_STAGE": "shadow"},
        1,
        "::error::repository variable SHADOW_S3EW_QUARANTINE is not set; stage shadow needs it",
        {},
    ),
    (
        "shadow never falls back to the production variables",
        {**PROD, "S3EW_STAGE": "shadow"},
        1,
        "::error::repository variable SHADOW_QUEUE_URL is not set",
        {},
    ),
    (
        "prod needs its variables",
        {**SHADOW},
        1,
        "::error::repository variable WRITER_ROLE_ARN is not set; stage prod needs it",
        {},
    ),
    (
        "unknown stage",
        {**PROD, "S3EW_STAGE": "staging"},
        1,
        "::error::repository variable S3EW_STAGE='staging' is neither prod nor shadow",
        {},
    ),
    (
        "bad version",
        {**PROD, "S3EW_VERSION": "latest"},
        1,
        "::error::repository variable S3EW_VERSION='latest' is not a version",
        {},
    ),
]


def main():
    passed = failed = 0
    for name, variables, status, text, expected in CASES:
        got_status, log, outputs = run(variables)
        problems = []
        if got_status != status:
            problems.append(f"exit status {got_status}, expected {status}")
        if text not in log:
            problems.append(f"log lacks {text!r}")
        for key, value in expected.items():
            if outputs.get(key) != value:
                problems.append(f"output {key}={outputs.get(key)!r}, expected {value!r}")
        if status != 0 and outputs:
            problems.append(f"a refused stage wrote outputs {outputs}")
        if problems:
            failed += 1
            print(f"FAIL {name}: {'; '.join(problems)}\n{log}")
        else:
            passed += 1
            print(f"ok   {name}")
    print(f"{passed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
