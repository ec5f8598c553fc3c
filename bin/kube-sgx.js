#!/usr/bin/env node
// Installed entry point: runs the compiled CLI (npm run build makes dist/).
import('../dist/src/cli/main.js').then((m) => m.main(process.argv)).catch((err) => {
  console.error(err);
  process.exit(1);
});
