#!/usr/bin/env python3
"""Write docs/TERRAFORM.md, the module's inputs and outputs, from deploy/terraform/variables.tf
and outputs.tf (their `description`, `type` and `default`), so the page cannot drift from the
module. `--check` writes nothing and exits 1 when the page is out of date.

Usage: scripts/terraform-tables.py [--check]
"""
import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TF = ROOT / "deploy" / "terraform"
PAGE = ROOT / "docs" / "TERRAFORM.md"


def blocks(text, kind):
    """Yield (name, body) for each top-level `kind "name" { ... }` block."""
    for m in re.finditer(r'^%s "([^"]+)" \{\n' % kind, text, re.M):
        depth, i = 1, m.end()
        while depth:
            c = text[i]
            if c == '"':
                i = text.index('"', i + 1)
                while text[i - 1] == "\\":
                    i = text.index('"', i + 1)
            elif c in "{[(":
                depth += c == "{"
            elif c == "}":
                depth -= 1
            i += 1
        yield m.group(1), text[m.end() : i - 1]


def attribute(body, key):
    """The value of a top-level `key = value` attribute of a block (on one line), or None."""
    m = re.search(r"^  %s\s*=\s*" % key, body, re.M)
    if not m:
        return None
    rest, depth, out = body[m.end() :], 0, []
    for line in rest.split("\n"):
        out.append(line.strip())
        depth += line.count("{") + line.count("[") + line.count("(")
        depth -= line.count("}") + line.count("]") + line.count(")")
        if depth <= 0:
            break
    value = " ".join(out).replace("[ ", "[").replace(" ]", "]").replace("{ ", "{").replace(" }", "}")
    return value


def description(body):
    value = attribute(body, "description") or ""
    if value.startswith('"') and value.endswith('"'):
        value = value[1:-1].replace('\\"', '"')
    return value.replace("|", "\\|")


def page():
    out = [
        "# Terraform inputs and outputs",
        "",
        "Generated from `deploy/terraform/variables.tf` and `outputs.tf` by",
        "`scripts/terraform-tables.py`; do not edit (`scripts/lint-deploy.sh` runs it with `--check`).",
        "[DEPLOY.md](DEPLOY.md) explains how to choose them.",
        "",
        "## Inputs",
        "",
        "| variable | type | default | description |",
        "| --- | --- | --- | --- |",
    ]
    for name, body in blocks((TF / "variables.tf").read_text(), "variable"):
        default = attribute(body, "default")
        default = "(required)" if default is None else "`%s`" % default.replace("|", "\\|")
        kind = "`%s`" % (attribute(body, "type") or "any").replace("|", "\\|")
        out.append("| `%s` | %s | %s | %s |" % (name, kind, default, description(body)))
    out += ["", "## Outputs", "", "| output | description |", "| --- | --- |"]
    for name, body in blocks((TF / "outputs.tf").read_text(), "output"):
        out.append("| `%s` | %s |" % (name, description(body)))
    return "\n".join(out) + "\n"


def main(argv):
    want = page()
    if "--check" in argv:
        if not PAGE.exists() or PAGE.read_text() != want:
            print("docs/TERRAFORM.md is out of date: run scripts/terraform-tables.py", file=sys.stderr)
            return 1
        return 0
    PAGE.write_text(want)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
