#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (npm run build makes dist/).
import { existsSync } from 'node:fs';

const main = new URL('../dist/src/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  // A fresh clone after `npm ci` has no dist/: say what to do instead of a module-not-found stack trace.
  console.error('kube-sgx: the CLI is not built (no dist/src/cli/main.js); run `npm run build` first (or `npm run kube-sgx -- ARGS` to run from source)');
  process.exit(1);
}
import(main.href)
  .then((m) => m.main(process.argv))
  .catch((err) => {
    console.error(err);
    process.exit(1);
  });
