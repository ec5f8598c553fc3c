/** PCK certificate SGX extensions: real leaves, byte-exact re-encoding, errors, a minted certificate. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { webcrypto } from 'node:crypto';
import fc from 'fast-check';
import { KubeSgxError } from '../../src/errors.js';
import {
  SGX_EXTENSION_OID,
  encodePckExtensionValue,
  findPckExtensionValue,
  parsePckExtensionValue,
  parsePckExtensions,
  parseQuote,
  type PckExtensions,
} from '../../src/sgx/index.js';
import { expectCode, loadQuote, readVector, type QuoteName } from './vectors.js';

function pemToDer(pem: string): Buffer {
  const m = /-----BEGIN CERTIFICATE-----([\s\S]*?)-----END CERTIFICATE-----/.exec(pem);
  assert.ok(m);
  return Buffer.from(m[1].replace(/\s+/g, ''), 'base64');
}

function leafOf(name: QuoteName): Buffer {
  const c = parseQuote(loadQuote(name)).signatureData.certificationData;
  assert.equal(c.type, 5);
  if (c.type !== 5) throw new Error('unreachable');
  const leaf = c.certificates.find((d) => d.includes(Buffer.from('SGX PCK Certificate', 'latin1')));
  assert.ok(leaf);
  return leaf;
}

const hex = (b: Uint8Array | undefined): string | undefined => (b === undefined ? undefined : Buffer.from(b).toString('hex'));

describe('real PCK certificates', () => {
  test('SGX sample leaf (Processor CA): FMSPC 00A067110000, PCE-ID 0000, PCESVN 13, type Standard', () => {
    const e = parsePckExtensions(leafOf('sgxV3'));
    assert.equal(hex(e.fmspc), '00a067110000');
    assert.equal(hex(e.pceId), '0000');
    assert.equal(e.pceSvn, 13);
    assert.equal(e.sgxType, 0);
    assert.deepEqual(e.tcbComponents, [11, 11, 2, 2, 255, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.deepEqual([...e.cpuSvn], e.tcbComponents); // dcap.md: CPUSVN octets equal components 1–16
    assert.equal(e.ppid.length, 16);
    assert.equal(e.platformInstanceId, undefined);
    assert.equal(e.configuration, undefined);
  });

  test('TDX sample leaf (Platform CA): FMSPC B0C06F000000, type Scalable, instance ID and configuration', () => {
    const e = parsePckExtensions(leafOf('tdxV4'));
    assert.equal(hex(e.fmspc), 'b0c06f000000');
    assert.equal(e.sgxType, 1);
    assert.equal(e.pceSvn, 11);
    assert.equal(e.platformInstanceId?.length, 16);
    assert.deepEqual(e.configuration, { dynamicPlatform: true, cachedKeys: true, smtEnabled: true });
  });

  test('v5 and near quotes: FMSPC 90C06F000000 / 20A06F000000; component 8 of the outdated one is 3', () => {
    const v5 = parsePckExtensions(leafOf('tdxV5'));
    assert.equal(hex(v5.fmspc), '90c06f000000');
    assert.equal(v5.tcbComponents[7], 3);
    assert.equal(v5.configuration?.cachedKeys, false);
    assert.equal(hex(parsePckExtensions(leafOf('nearHex')).fmspc), '20a06f000000');
  });

  test("Intel sampleData pckCert.pem (for the type-1 quote): FMSPC 00707F000000, PCESVN 3", () => {
    const e = parsePckExtensions(pemToDer(readVector('intel-qvl-sampledata/sampleData/pckCert.pem').toString()));
    assert.equal(hex(e.fmspc), '00707f000000');
    assert.equal(e.pceSvn, 3);
    assert.deepEqual(e.tcbComponents.slice(0, 8), [0, 3, 0, 0, 0, 1, 1, 0]);
    const tdx = parsePckExtensions(pemToDer(readVector('intel-qvl-sampledata/sampleData/tdx/pckCert.pem').toString()));
    assert.equal(tdx.tcbComponents.length, 16);
  });

  for (const name of ['sgxV3', 'tdxV4', 'tdxV5', 'nearHex', 'intelTdxDer'] as const) {
    test(`encodePckExtensionValue re-creates Intel's bytes exactly: ${name}`, () => {
      const leaf = leafOf(name);
      const raw = findPckExtensionValue(leaf);
      const parsed = parsePckExtensionValue(raw);
      assert.ok(Buffer.from(encodePckExtensionValue(parsed)).equals(raw));
      assert.deepEqual(parsePckExtensions(leaf), parsed);
    });
  }

  test('a CA certificate has no SGX extension', () => {
    const c = parseQuote(loadQuote('sgxV3')).signatureData.certificationData;
    if (c.type !== 5) assert.fail();
    const e = expectCode(() => parsePckExtensions(c.certificates[2]), 'PCK_EXTENSION_MISSING');
    assert.deepEqual(e.path, ['sgxExtensions']);
  });
});

const bytesArb = (n: number): fc.Arbitrary<Buffer> => fc.uint8Array({ minLength: n, maxLength: n }).map((u) => Buffer.from(u));
const extArb: fc.Arbitrary<PckExtensions> = fc
  .record({
    ppid: bytesArb(16),
    tcbComponents: fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 16, maxLength: 16 }),
    pceSvn: fc.integer({ min: 0, max: 0xffff }),
    cpuSvn: bytesArb(16),
    pceId: bytesArb(2),
    fmspc: bytesArb(6),
    sgxType: fc.integer({ min: 0, max: 2 }),
    platform: fc.option(fc.record({ id: bytesArb(16), d: fc.boolean(), c: fc.boolean(), s: fc.boolean() }), { nil: undefined }),
  })
  .map(({ platform, ...rest }) => {
    const e: PckExtensions = { ...rest };
    if (platform) {
      e.platformInstanceId = platform.id;
      e.configuration = { dynamicPlatform: platform.d, cachedKeys: platform.c, smtEnabled: platform.s };
    }
    return e;
  });

describe('encode / parse', () => {
  test('parse(encode(x)) deep-equals x (property)', () => {
    fc.assert(
      fc.property(extArb, (e) => {
        assert.deepEqual(parsePckExtensionValue(encodePckExtensionValue(e)), e);
      }),
      { numRuns: 500 },
    );
  });

  test('encoder rejects bad values', () => {
    const good = parsePckExtensions(leafOf('sgxV3'));
    expectCode(() => encodePckExtensionValue({ ...good, fmspc: Buffer.alloc(5) }), 'ENCODE_BAD_FIELD');
    expectCode(() => encodePckExtensionValue({ ...good, tcbComponents: good.tcbComponents.slice(1) }), 'ENCODE_BAD_FIELD');
    expectCode(() => encodePckExtensionValue({ ...good, tcbComponents: [256, ...good.tcbComponents.slice(1)] }), 'ENCODE_BAD_FIELD');
    expectCode(() => encodePckExtensionValue({ ...good, sgxType: 3 }), 'ENCODE_BAD_FIELD');
  });

  test('encoder given garbage fields: ENCODE_BAD_FIELD only', () => {
    const good = parsePckExtensions(leafOf('tdxV4'));
    const keys = Object.keys(good) as Array<keyof PckExtensions>;
    fc.assert(
      fc.property(fc.constantFrom(...keys), fc.anything({ withBigInt: true, withTypedArray: true }), (key, value) => {
        try {
          encodePckExtensionValue({ ...good, [key]: value } as PckExtensions);
        } catch (e) {
          assert.ok(e instanceof KubeSgxError, `${key}: ${String(e)}`);
          assert.equal(e.code, 'ENCODE_BAD_FIELD');
        }
      }),
      { numRuns: 2000 },
    );
    expectCode(() => encodePckExtensionValue(null as unknown as PckExtensions), 'ENCODE_BAD_FIELD');
  });

  test('parser errors: malformed, bad value, missing, duplicate', () => {
    const raw = Buffer.from(findPckExtensionValue(leafOf('sgxV3')));
    expectCode(() => parsePckExtensionValue(raw.subarray(0, raw.length - 1)), 'PCK_EXTENSION_MALFORMED');
    expectCode(() => parsePckExtensionValue(Buffer.concat([raw, Buffer.from([0])])), 'PCK_EXTENSION_MALFORMED');
    const good = parsePckExtensionValue(raw);
    // FMSPC OCTET STRING 6 → find "04 06 <fmspc>" and shorten its declared length
    const at = raw.indexOf(Buffer.concat([Buffer.from([4, 6]), good.fmspc]));
    const badLen = Buffer.from(raw);
    badLen[at + 1] = 5;
    expectCode(() => parsePckExtensionValue(badLen), 'PCK_EXTENSION_MALFORMED');
    const badType = Buffer.from(raw);
    badType[at] = 0x0c; // UTF8String instead of OCTET STRING
    const e = expectCode(() => parsePckExtensionValue(badType), 'PCK_EXTENSION_BAD_VALUE');
    assert.deepEqual(e.path, ['sgxExtensions', 'fmspc']);
    // renumber the FMSPC OID (P.4 → P.9, ignored as unknown) → FMSPC missing
    const noFmspc = Buffer.from(raw);
    assert.equal(noFmspc[at - 1], 4); // last arc of the OID P.4
    noFmspc[at - 1] = 9;
    const m = expectCode(() => parsePckExtensionValue(noFmspc), 'PCK_EXTENSION_FIELD_MISSING');
    assert.deepEqual(m.path, ['sgxExtensions', 'fmspc']);
    // renumber FMSPC as PCE-ID (P.3) → duplicate
    const dup = Buffer.from(raw);
    dup[at - 1] = 3;
    expectCode(() => parsePckExtensionValue(dup), 'PCK_EXTENSION_DUPLICATE');
    // a negative SVN
    const svn = parsePckExtensionValue(encodePckExtensionValue({ ...good, tcbComponents: good.tcbComponents.map(() => 0x7f) }));
    assert.equal(svn.tcbComponents[0], 0x7f);
    const enc = Buffer.from(encodePckExtensionValue({ ...good, tcbComponents: good.tcbComponents.map(() => 0x7f) }));
    enc[enc.indexOf(Buffer.from([2, 1, 0x7f]), 0) + 2] = 0x80;
    expectCode(() => parsePckExtensionValue(enc), 'PCK_EXTENSION_BAD_VALUE');
  });

  test('garbage certificates give typed errors only', () => {
    const leaf = leafOf('tdxV4');
    fc.assert(
      fc.property(fc.integer({ min: 0, max: leaf.length - 1 }), fc.integer({ min: 0, max: 255 }), (i, v) => {
        const m = Buffer.from(leaf);
        m[i] = v;
        try {
          parsePckExtensions(m);
        } catch (e) {
          assert.ok(e instanceof KubeSgxError, String(e));
        }
      }),
      { numRuns: 3000 },
    );
    for (let n = 0; n < leaf.length; n += 7) {
      assert.throws(() => parsePckExtensions(leaf.subarray(0, n)), KubeSgxError);
    }
  });

  test('a certificate minted with @peculiar/x509 carries the encoded extension', async () => {
    await import('reflect-metadata'); // @peculiar/x509 needs it loaded first
    const x509 = await import('@peculiar/x509');
    x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);
    const alg = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' };
    const keys = await webcrypto.subtle.generateKey(alg, false, ['sign', 'verify']);
    const ext = parsePckExtensions(leafOf('tdxV4'));
    const cert = await x509.X509CertificateGenerator.createSelfSigned({
      serialNumber: '01',
      name: 'CN=Intel SGX PCK Certificate',
      notBefore: new Date('2025-01-01T00:00:00Z'),
      notAfter: new Date('2030-01-01T00:00:00Z'),
      keys: keys as unknown as Parameters<typeof x509.X509CertificateGenerator.createSelfSigned>[0]['keys'],
      signingAlgorithm: alg,
      extensions: [new x509.Extension(SGX_EXTENSION_OID, false, encodePckExtensionValue(ext))],
    });
    assert.deepEqual(parsePckExtensions(new Uint8Array(cert.rawData)), ext);
  });
});
