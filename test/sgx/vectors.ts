/** The real quotes in test/vectors/dcap, loaded through decodeQuoteFile (binary, hex or base64). */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeSgxError } from '../../src/errors.js';
import { decodeQuoteFile } from '../../src/sgx/index.js';

export const DCAP_DIR = join(dirname(fileURLToPath(import.meta.url)), '..', 'vectors', 'dcap');

export interface QuoteVector {
  name: string;
  path: string;
  bytes: Buffer;
}

export const QUOTE_FILES = {
  sgxV3: 'phala-dcap-qvl/sample/sgx_quote',
  tdxV4: 'phala-dcap-qvl/sample/tdx_quote',
  tdxV5: 'phala-dcap-qvl/sample/tdx_quote_outdated',
  tdxHex: 'phala-dcap-qvl/sample/tdx-quote.hex',
  tappdHex: 'phala-dcap-qvl/sample/quote-from-tappd.hex',
  nearHex: 'phala-dcap-qvl/tests/near/quote/quote_hex.txt',
  intelSgxType1: 'intel-qvl-sampledata/sampleData/quote.dat',
  intelTdxDer: 'intel-qvl-sampledata/sampleData/tdx/quote.dat',
} as const;

export type QuoteName = keyof typeof QUOTE_FILES;

export function readVector(rel: string): Buffer {
  return readFileSync(join(DCAP_DIR, rel));
}

export function loadQuote(name: QuoteName): Buffer {
  return decodeQuoteFile(readVector(QUOTE_FILES[name]));
}

export function allQuotes(): QuoteVector[] {
  return (Object.keys(QUOTE_FILES) as QuoteName[]).map((name) => ({ name, path: QUOTE_FILES[name], bytes: loadQuote(name) }));
}

/**
 * Fields of an insta Debug snapshot (phala dcap-qvl tests/snapshots) in
 * order of appearance: `name: [bytes]`, `name: number` and `body: "string"`.
 */
export function snapshotFields(rel: string): Array<[string, number[] | number | string]> {
  const text = readVector(rel).toString('utf8');
  const out: Array<[string, number[] | number | string]> = [];
  const re = /(\w+): (?:\[([\d,\s]*)\]|(\d+),|"((?:[^"\\]|\\.)*)")/g;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    if (m[2] !== undefined) out.push([m[1], m[2].split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number)]);
    else if (m[3] !== undefined) out.push([m[1], Number(m[3])]);
    else out.push([m[1], unescapeRust(m[4])]);
  }
  return out;
}

function unescapeRust(s: string): string {
  return s.replace(/\\(u\{([0-9a-fA-F]+)\}|n|r|t|0|"|\\)/g, (_m, e: string, hex: string | undefined) => {
    if (hex !== undefined) return String.fromCodePoint(parseInt(hex, 16));
    return { n: '\n', r: '\r', t: '\t', '0': '\0', '"': '"', '\\': '\\' }[e] ?? e;
  });
}

/** Runs `fn`, which must throw a KubeSgxError with `code` (and, when given, exactly `path`). */
export function expectCode(fn: () => unknown, code: string, path?: ReadonlyArray<string | number>): KubeSgxError {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KubeSgxError, `expected KubeSgxError, got ${String(e)}`);
    assert.equal(e.code, code, e.message);
    if (path !== undefined) assert.deepEqual(e.path, path);
    return e;
  }
  assert.fail(`expected ${code}, nothing thrown`);
}
