/**
 * Mutated-quote fuzzing of parser + verifier, shared by the test (a few
 * thousand cases) and scripts/fuzz-verifier.ts (a million). Each case must
 * either verify to exactly the original's result (mutations outside the
 * signed data, e.g. zero padding) or throw a KubeSgxError; anything else —
 * a crash, another error type, a changed result — is a finding.
 */
import { isDeepStrictEqual } from 'node:util';
import { KubeSgxError } from '../../src/errors.js';
import { parseQuote } from '../../src/sgx/index.js';
import { QuoteVerifier, type Collateral, type VerificationResult } from '../../src/dcap/index.js';
import { mutateQuote, quoteFieldOffsets, seededRandom, type LengthField } from '../sgx/fuzz-helpers.js';
import { at, hexQuote, INTEL_SAMPLE_PCK_CHAIN, INTEL_SAMPLE_ROOT, intelSampleCollateral, phalaCollateral, readVector } from './helpers.js';

interface Base {
  name: string;
  quote: Buffer;
  collateral: Collateral;
  verifier: QuoteVerifier;
  pckCertChain?: string;
  fields: LengthField[];
  /** the unmutated quote's result, or its error code */
  expected: VerificationResult | string;
}

export function fuzzBases(): Base[] {
  const mk = (name: string, quote: Buffer, collateral: Collateral, now: string, extra: { roots?: string[]; pckCertChain?: string } = {}): Base => {
    const verifier = new QuoteVerifier({ now: () => at(now), ...(extra.roots ? { trustedRoots: extra.roots } : {}) });
    const opts = extra.pckCertChain ? { pckCertChain: extra.pckCertChain } : {};
    let expected: VerificationResult | string;
    try {
      expected = verifier.verifySync(quote, collateral, opts);
    } catch (e) {
      expected = e instanceof KubeSgxError ? e.code : 'NOT_TYPED';
    }
    return { name, quote, collateral, verifier, fields: quoteFieldOffsets(parseQuote(quote)), expected, ...opts };
  };
  return [
    mk('phala sgx_quote', readVector('phala-dcap-qvl/sample/sgx_quote'), phalaCollateral('sample/sgx_quote_collateral.json'), '2025-07-01T00:00:00Z'),
    mk('phala tdx_quote', readVector('phala-dcap-qvl/sample/tdx_quote'), phalaCollateral('sample/tdx_quote_collateral.json'), '2025-07-01T00:00:00Z'),
    mk('phala tdx_quote_outdated', readVector('phala-dcap-qvl/sample/tdx_quote_outdated'), phalaCollateral('sample/tdx_quote_outdated_collateral.json'), '2026-03-01T00:00:00Z'),
    mk('phala near', hexQuote('phala-dcap-qvl/tests/near/quote/quote_hex.txt'), phalaCollateral('tests/near/quote/quote_collateral.json'), '2025-09-15T00:00:00Z'),
    mk('intel quote.dat', readVector('intel-qvl-sampledata/sampleData/quote.dat'), intelSampleCollateral(), '2025-07-01T00:00:00Z', {
      roots: [INTEL_SAMPLE_ROOT()],
      pckCertChain: INTEL_SAMPLE_PCK_CHAIN(),
    }),
  ];
}

export interface FuzzStats {
  cases: number;
  typedErrors: number;
  verified: number;
  codes: Map<string, number>;
  findings: string[];
  slowestMs: number;
  elapsedMs: number;
}

/** Runs `cases` mutations (round-robin over the bases) from `seed`. */
export function runFuzz(bases: Base[], cases: number, seed: number, onProgress?: (done: number) => void): FuzzStats {
  const rand = seededRandom(seed);
  const stats: FuzzStats = { cases: 0, typedErrors: 0, verified: 0, codes: new Map(), findings: [], slowestMs: 0, elapsedMs: 0 };
  const started = performance.now();
  for (let i = 0; i < cases; i++) {
    const base = bases[i % bases.length];
    const q = mutateQuote(base.quote, rand, base.fields);
    const t0 = performance.now();
    try {
      const r = base.verifier.verifySync(q, base.collateral, base.pckCertChain ? { pckCertChain: base.pckCertChain } : {});
      stats.verified++;
      if (!isDeepStrictEqual(r, base.expected)) stats.findings.push(`${base.name} case ${i}: a mutated quote verified with a different result (${q.toString('hex').slice(0, 64)}…)`);
    } catch (e) {
      if (e instanceof KubeSgxError) {
        stats.typedErrors++;
        stats.codes.set(e.code, (stats.codes.get(e.code) ?? 0) + 1);
      } else {
        stats.findings.push(`${base.name} case ${i}: untyped ${e instanceof Error ? e.stack : String(e)}`);
      }
    }
    const dt = performance.now() - t0;
    if (dt > stats.slowestMs) stats.slowestMs = dt;
    if (dt > 1000) stats.findings.push(`${base.name} case ${i}: took ${dt.toFixed(0)} ms`);
    stats.cases++;
    if (onProgress && (i + 1) % 50_000 === 0) onProgress(i + 1);
  }
  stats.elapsedMs = performance.now() - started;
  return stats;
}
