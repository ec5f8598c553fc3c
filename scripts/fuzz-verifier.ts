/**
 * Million-case fuzz of the quote parser + verifier:
 *   node --import tsx scripts/fuzz-verifier.ts [cases=1000000] [seed=1]
 * Mutations come from test/sgx/fuzz-helpers.ts (engineer A's mutators) over
 * every testdata quote with collateral. Exits 1 on any finding (an untyped
 * error, a mutated quote verifying to a different result, a case over 1 s).
 */
import { fuzzBases, runFuzz } from '../test/dcap/fuzz-cases.js';

const cases = Number(process.argv[2] ?? 1_000_000);
const seed = Number(process.argv[3] ?? 1);
if (!Number.isInteger(cases) || cases <= 0 || !Number.isInteger(seed)) {
  console.error('usage: fuzz-verifier.ts [cases] [seed]');
  process.exit(2);
}
const started = Date.now();
const stats = runFuzz(fuzzBases(), cases, seed, (done) => process.stderr.write(`${done} cases, ${((Date.now() - started) / 1000).toFixed(0)} s\n`));
const summary = {
  cases: stats.cases,
  seed,
  elapsedSeconds: Number((stats.elapsedMs / 1000).toFixed(1)),
  perCaseMicroseconds: Number(((stats.elapsedMs * 1000) / stats.cases).toFixed(1)),
  slowestCaseMs: Number(stats.slowestMs.toFixed(2)),
  typedErrors: stats.typedErrors,
  verifiedUnchanged: stats.verified,
  codes: Object.fromEntries([...stats.codes].sort((a, b) => b[1] - a[1])),
  findings: stats.findings.slice(0, 20),
  findingCount: stats.findings.length,
};
console.log(JSON.stringify(summary, null, 2));
process.exit(stats.findings.length === 0 ? 0 : 1);
