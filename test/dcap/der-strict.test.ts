/**
 * DER, not BER (issue 15 §4): a length in more octets than needed, and an
 * AlgorithmIdentifier that is not a SEQUENCE (or differs between the outer
 * certificate / CRL and its TBS part), are refused with their own codes —
 * DER_LENGTH_NOT_MINIMAL and ALGORITHM_IDENTIFIER_MALFORMED — on real Intel
 * certificates and CRLs re-encoded one element at a time. OpenSSL (Node's
 * X509Certificate) cannot load a certificate whose signatureAlgorithm is not a
 * SEQUENCE (Intel's QVL then says UNSUPPORTED_CERT_FORMAT); it does load BER
 * lengths, which X.690 §10.1 and RFC 5280 forbid in a certificate.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { KubeSgxError } from '../../src/errors.js';
import { readNode } from '../../src/sgx/der.js';
import { parseCertificate, parseCrl } from '../../src/dcap/x509.js';
import { verifyQuote } from '../../src/dcap/index.js';
import { parseQuote } from '../../src/sgx/index.js';
import { at, phalaCollateral, readVector, rejects } from './helpers.js';

const NOW = at('2025-07-01T00:00:00Z');
const sgxQuote = readVector('phala-dcap-qvl/sample/sgx_quote');
const sgxCol = phalaCollateral('sample/sgx_quote_collateral.json');
const cd = parseQuote(sgxQuote).signatureData.certificationData;
if (cd.type !== 5) throw new Error('the SGX sample carries a type-5 chain');
const [pckDer, pckCaDer, rootDer] = cd.certificates.map((c) => Buffer.from(c));
const pckCrlDer = Buffer.from(sgxCol.pck_crl, 'hex');

interface Node {
  tag: number;
  children?: Node[];
  value?: Buffer;
  /** encode this node's length with this many extra leading zero octets / in long form */
  longLength?: 'leading-zero' | 'long-form';
}

/** A DER tree (constructed = bit 0x20 of the tag), re-encodable after edits. */
function tree(buf: Buffer, start = 0, end = buf.length): Node[] {
  const out: Node[] = [];
  for (let p = start; p < end; ) {
    const t = readNode(buf, p, end);
    const node: Node = { tag: t.tag };
    if (t.tag & 0x20) node.children = tree(buf, t.body, t.end);
    else node.value = buf.subarray(t.body, t.end);
    out.push(node);
    p = t.end;
  }
  return out;
}

function lengthOctets(len: number, form?: Node['longLength']): number[] {
  const bytes: number[] = [];
  for (let v = len; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  if (form === 'leading-zero') return [0x80 | (bytes.length + 1), 0, ...bytes];
  if (form === 'long-form' || len >= 0x80) return [0x80 | Math.max(1, bytes.length), ...(bytes.length ? bytes : [0])];
  return [len];
}

function encode(n: Node): Buffer {
  const body = n.children ? Buffer.concat(n.children.map(encode)) : (n.value ?? Buffer.alloc(0));
  return Buffer.concat([Buffer.from([n.tag, ...lengthOctets(body.length, n.longLength)]), body]);
}

/** Re-encodes `der` after `edit` changed its tree (the path indexes children from the top element). */
function reencoded(der: Buffer, path: number[], edit: (n: Node) => void): Buffer {
  const [top] = tree(der);
  let n = top;
  for (const i of path) n = (n.children ?? [])[i];
  edit(n);
  return encode(top);
}

const code = (fn: () => unknown): string => {
  try {
    fn();
  } catch (e) {
    assert.ok(e instanceof KubeSgxError, String(e));
    return e.code;
  }
  return 'ACCEPTED';
};

describe('the re-encoder is faithful', () => {
  test('re-encoding the real certificates and CRL without edits gives the same bytes', () => {
    for (const der of [pckDer, pckCaDer, rootDer, pckCrlDer]) assert.deepEqual(reencoded(der, [], () => undefined), der);
  });
});

describe('non-minimal DER lengths → DER_LENGTH_NOT_MINIMAL', () => {
  test('the reader refuses a long form for a short length and a leading zero octet, and takes minimal forms', () => {
    assert.equal(code(() => readNode(Buffer.from('3081050102030405', 'hex'), 0, 8, 'PCK_CERT_MALFORMED')), 'DER_LENGTH_NOT_MINIMAL');
    assert.equal(code(() => readNode(Buffer.from('30820005' + '0102030405', 'hex'), 0, 9, 'PCK_CERT_MALFORMED')), 'DER_LENGTH_NOT_MINIMAL');
    const b = Buffer.concat([Buffer.from('308200' + '80', 'hex'), Buffer.alloc(0x80)]);
    assert.equal(code(() => readNode(b, 0, b.length, 'PCK_CERT_MALFORMED')), 'DER_LENGTH_NOT_MINIMAL');
    const ok = Buffer.concat([Buffer.from('308180', 'hex'), Buffer.alloc(0x80)]);
    assert.equal(readNode(ok, 0, ok.length, 'PCK_CERT_MALFORMED').end, ok.length);
    const ok2 = Buffer.concat([Buffer.from('30820100', 'hex'), Buffer.alloc(0x100)]);
    assert.equal(readNode(ok2, 0, ok2.length, 'PCK_CERT_MALFORMED').end, ok2.length);
  });

  const certCases: Array<[string, number[], Node['longLength']]> = [
    ['the outer Certificate SEQUENCE, leading zero', [], 'leading-zero'],
    ['tbsCertificate, leading zero', [0], 'leading-zero'],
    ['the serial INTEGER, long form', [0, 1], 'long-form'],
    ['the outer signatureAlgorithm, long form', [1], 'long-form'],
    ['the signature BIT STRING, long form', [2], 'long-form'],
  ];
  for (const [what, path, form] of certCases) {
    test(`a real PCK certificate with ${what} → DER_LENGTH_NOT_MINIMAL`, () => {
      const der = reencoded(pckDer, path, (n) => (n.longLength = form));
      assert.notDeepEqual(der, pckDer);
      assert.equal(code(() => parseCertificate(der)), 'DER_LENGTH_NOT_MINIMAL');
    });
  }

  test('a real PCK CRL with a long-form length → DER_LENGTH_NOT_MINIMAL, and so through verifyQuote naming pck_crl', () => {
    const der = reencoded(pckCrlDer, [0, 0], (n) => (n.longLength = 'long-form')); // the version INTEGER
    assert.equal(code(() => parseCrl(der)), 'DER_LENGTH_NOT_MINIMAL');
    const e = rejects(() => verifyQuote(sgxQuote, { ...sgxCol, pck_crl: der.toString('hex') }, { now: NOW }), 'DER_LENGTH_NOT_MINIMAL', 'pck_crl');
    assert.deepEqual(e.path, ['pck_crl']);
  });

  test('the quote’s PCK chain with one BER length → PCK_CHAIN_INVALID, reason DER_LENGTH_NOT_MINIMAL', () => {
    const ber = reencoded(pckCaDer, [0, 1], (n) => (n.longLength = 'long-form'));
    const pem = (d: Buffer) => `-----BEGIN CERTIFICATE-----\n${d.toString('base64')}\n-----END CERTIFICATE-----\n`;
    const e = rejects(() => verifyQuote(sgxQuote, sgxCol, { now: NOW, pckCertChain: pem(pckDer) + pem(ber) + pem(rootDer) }), 'PCK_CHAIN_INVALID', 'non-minimal');
    assert.deepEqual(e.details, { reason: 'DER_LENGTH_NOT_MINIMAL' });
  });
});

describe('AlgorithmIdentifier not a SEQUENCE, or outer ≠ inner → ALGORITHM_IDENTIFIER_MALFORMED', () => {
  const asSet = (n: Node) => (n.tag = 0x31);
  test('certificate: outer signatureAlgorithm as a SET (OpenSSL cannot load it)', () => {
    const der = reencoded(pckDer, [1], asSet);
    assert.equal(code(() => parseCertificate(der)), 'ALGORITHM_IDENTIFIER_MALFORMED');
    assert.throws(() => new X509Certificate(der));
  });
  test('certificate: outer signatureAlgorithm as context tag [0]', () => {
    assert.equal(code(() => parseCertificate(reencoded(pckDer, [1], (n) => (n.tag = 0xa0)))), 'ALGORITHM_IDENTIFIER_MALFORMED');
  });
  test('certificate: tbsCertificate signature AlgorithmIdentifier as a SET', () => {
    assert.equal(code(() => parseCertificate(reencoded(pckDer, [0, 2], asSet))), 'ALGORITHM_IDENTIFIER_MALFORMED');
  });
  test('certificate: outer and inner AlgorithmIdentifiers differ (a NULL parameter added outside)', () => {
    const der = reencoded(pckDer, [1], (n) => n.children?.push({ tag: 0x05, value: Buffer.alloc(0) }));
    assert.equal(code(() => parseCertificate(der)), 'ALGORITHM_IDENTIFIER_MALFORMED');
  });
  test('CRL: outer AlgorithmIdentifier as a SET → refused through verifyQuote naming pck_crl', () => {
    const der = reencoded(pckCrlDer, [1], asSet);
    assert.equal(code(() => parseCrl(der)), 'ALGORITHM_IDENTIFIER_MALFORMED');
    rejects(() => verifyQuote(sgxQuote, { ...sgxCol, pck_crl: der.toString('hex') }, { now: NOW }), 'ALGORITHM_IDENTIFIER_MALFORMED', 'pck_crl');
  });
  test('CRL: tbsCertList signature AlgorithmIdentifier as a SET', () => {
    assert.equal(code(() => parseCrl(reencoded(pckCrlDer, [0, 1], asSet))), 'ALGORITHM_IDENTIFIER_MALFORMED');
  });
  test('the unedited real certificates and CRL still parse', () => {
    for (const der of [pckDer, pckCaDer, rootDer]) assert.equal(parseCertificate(der).der.length, der.length);
    assert.equal(parseCrl(pckCrlDer).der.length, pckCrlDer.length);
  });
});
