/** Test vectors (test/vectors/dcap) loaded the way the tests need them. */
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { KubeSgxError } from '../../src/errors.js';
import { collateralFromParts, parseCollateral, type Collateral } from '../../src/dcap/collateral.js';

export const VECTORS = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'dcap');
export const PHALA = join(VECTORS, 'phala-dcap-qvl');
export const INTEL = join(VECTORS, 'intel-qvl-sampledata', 'sampleData');

export const readVector = (...p: string[]): Buffer => readFileSync(join(VECTORS, ...p));
export const readText = (...p: string[]): string => readFileSync(join(VECTORS, ...p), 'utf8');

export const hexQuote = (...p: string[]): Buffer => Buffer.from(readText(...p).trim(), 'hex');

export function phalaCollateral(name: string): Collateral {
  return parseCollateral(readFileSync(join(PHALA, name), 'utf8'));
}

/** Intel's QVL sampleData as collateral (sample test root; PCS-form JSON bodies). */
export function intelSampleCollateral(): Collateral {
  const r = (f: string) => readFileSync(join(INTEL, f));
  return collateralFromParts({
    pckCrlIssuerChain: r('pckSignChain.pem').toString('utf8'),
    rootCaCrl: r('rootCaCrl.der'),
    pckCrl: r('intermediateCaCrl.der'),
    tcbInfoIssuerChain: r('tcbSignChain.pem').toString('utf8'),
    tcbInfoBody: r('tcbInfo.json').toString('utf8'),
    qeIdentityIssuerChain: r('tcbSignChain.pem').toString('utf8'),
    qeIdentityBody: r('qeIdentity.json').toString('utf8'),
  });
}

export const INTEL_SAMPLE_ROOT = (): string => readFileSync(join(INTEL, 'trustedRootCaCert.pem'), 'utf8');
/** the sample PCK leaf plus its issuer chain, for the type-1 sample quote */
export const INTEL_SAMPLE_PCK_CHAIN = (): string =>
  readFileSync(join(INTEL, 'pckCert.pem'), 'utf8') + readFileSync(join(INTEL, 'pckSignChain.pem'), 'utf8');

export const at = (iso: string): Date => new Date(iso);

/** Asserts that `fn` throws a KubeSgxError with `code` (and returns it). */
export function rejects(fn: () => unknown, code: string, messageIncludes?: string): KubeSgxError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KubeSgxError, `expected KubeSgxError ${code}, got ${String(e)}`);
    assert.equal(e.code, code, `expected ${code}, got ${e.code}: ${e.message}`);
    if (messageIncludes) assert.ok(e.message.includes(messageIncludes), `"${e.message}" should mention "${messageIncludes}"`);
    return e;
  }
  assert.fail(`expected ${code}, but it was accepted`);
}

