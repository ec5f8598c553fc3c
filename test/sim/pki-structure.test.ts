/**
 * The simulated PKI is structurally Intel's, field by field: every simulated
 * certificate and CRL is compared with the production certificate or CRL of the
 * same role in the real collateral and quotes (test/vectors/dcap/phala-dcap-qvl).
 * Intel's QVL refuses certificates that differ in what it checks (the five
 * extensions); CI cannot build QVL, so these tests pin the structure it accepted
 * (docs/simulator.md, "Intel's QVL").
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SimPlatform, startSimPccs, type SimPccs } from '../../src/sim/index.js';
import { SIM_CRL_URLS } from '../../src/sim/pki.js';
import { pemCertificates } from '../../src/dcap/pem.js';
import { DER_TAG, childNodes, expectNode, nodeContent, oidString, readNode, type DerNode } from '../../src/sgx/der.js';
import { parseQuote } from '../../src/sgx/index.js';
import { phalaCollateral, readVector } from '../dcap/helpers.js';
import { tempDir } from './helpers.js';

const OU = '2.5.4.11';

interface NameShape {
  /** attribute type OID → DER string tag, in order */
  attributes: [string, number][];
}
interface CertShape {
  version: number;
  serialLength: number;
  signatureAlgorithm: string;
  tbsSignatureAlgorithm: string;
  issuer: NameShape;
  subject: NameShape;
  validityTags: number[];
  publicKey: string[];
  /** OID and criticality of each extension, in order */
  extensions: [string, boolean][];
  keyUsage: string;
  basicConstraints: string;
  /** AuthorityKeyIdentifier: tags of its fields and the key id length */
  aki: { fields: number[]; keyIdLength: number };
  skiLength: number;
  crlDp: { points: number; uris: string[] };
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

function nameShape(der: Uint8Array, name: DerNode, dropOu: boolean): NameShape {
  const attributes: [string, number][] = [];
  for (const rdn of childNodes(der, name)) {
    for (const atv of childNodes(der, rdn)) {
      const [type, value] = childNodes(der, atv);
      const oid = oidString(der, type);
      if (!(dropOu && oid === OU)) attributes.push([oid, value.tag]);
    }
  }
  return { attributes };
}

/** The structure of a certificate without its values (keys, serials, dates, names' text). */
function certShape(der: Uint8Array, dropOu = false): CertShape {
  const top = expectNode(der, 0, der.length, DER_TAG.SEQUENCE);
  const [tbs, alg] = childNodes(der, top);
  const f = childNodes(der, tbs);
  const [ver, serial, sigAlg, issuer, validity, subject, spki, exts] = f;
  const algOid = (t: DerNode) => oidString(der, childNodes(der, t)[0]);
  const extList = childNodes(der, expectNode(der, exts.body, exts.end, DER_TAG.SEQUENCE));
  const extValues = new Map<string, Uint8Array>();
  const extensions: [string, boolean][] = extList.map((e) => {
    const parts = childNodes(der, e);
    const oid = oidString(der, parts[0]);
    extValues.set(oid, nodeContent(der, parts[parts.length - 1]));
    return [oid, parts.length === 3 && der[parts[1].body] === 0xff];
  });
  const ext = (oid: string) => extValues.get(oid) ?? new Uint8Array();
  const aki = ext('2.5.29.35');
  const akiFields = childNodes(aki, readNode(aki, 0));
  const ski = ext('2.5.29.14');
  const dp = ext('2.5.29.31');
  const points = childNodes(dp, readNode(dp, 0));
  const uris: string[] = [];
  for (const p of points) {
    for (const dpName of childNodes(dp, p)) {
      assert.equal(dpName.tag, 0xa0, 'DistributionPoint has only distributionPoint [0]');
      for (const full of childNodes(dp, dpName)) {
        assert.equal(full.tag, 0xa0, 'distributionPoint is fullName [0]');
        for (const gn of childNodes(dp, full)) {
          assert.equal(gn.tag, 0x86, 'fullName holds uniformResourceIdentifier [6]');
          uris.push(Buffer.from(nodeContent(dp, gn)).toString('latin1'));
        }
      }
    }
  }
  const pk = childNodes(der, childNodes(der, spki)[0]).map((t) => oidString(der, t));
  return {
    version: der[childNodes(der, ver)[0].body],
    serialLength: serial.end - serial.body - (der[serial.body] === 0 ? 1 : 0),
    signatureAlgorithm: algOid(alg),
    tbsSignatureAlgorithm: algOid(sigAlg),
    issuer: nameShape(der, issuer, dropOu),
    subject: nameShape(der, subject, dropOu),
    validityTags: childNodes(der, validity).map((t) => t.tag),
    publicKey: pk,
    extensions,
    keyUsage: hex(ext('2.5.29.15')),
    basicConstraints: hex(ext('2.5.29.19')),
    aki: { fields: akiFields.map((t) => t.tag), keyIdLength: akiFields[0].end - akiFields[0].body },
    skiLength: readNode(ski, 0).end - 2,
    crlDp: { points: points.length, uris },
  };
}

interface CrlShape {
  version: number;
  signatureAlgorithm: string;
  tbsSignatureAlgorithm: string;
  issuer: NameShape;
  timeTags: number[];
  extensions: [string, boolean][];
  akiFields: number[];
  /** per revoked entry: serial length, date tag, entry extensions with their values */
  entries: { serialLength: number; dateTag: number; extensions: [string, boolean, string][] }[];
}

function crlShape(der: Uint8Array, dropOu = false): CrlShape {
  const top = expectNode(der, 0, der.length, DER_TAG.SEQUENCE);
  const [tbs, alg] = childNodes(der, top);
  const [ver, sigAlg, issuer, thisUpdate, nextUpdate, ...rest] = childNodes(der, tbs);
  const algOid = (t: DerNode) => oidString(der, childNodes(der, t)[0]);
  const revoked = rest.find((t) => t.tag === DER_TAG.SEQUENCE);
  const extsTagged = rest.find((t) => t.tag === 0xa0);
  assert.ok(extsTagged, 'CRL has crlExtensions');
  const exts = childNodes(der, expectNode(der, extsTagged.body, extsTagged.end, DER_TAG.SEQUENCE));
  const extensions: [string, boolean][] = exts.map((e) => {
    const parts = childNodes(der, e);
    return [oidString(der, parts[0]), parts.length === 3];
  });
  const aki = exts.map((e) => childNodes(der, e)).find((p) => oidString(der, p[0]) === '2.5.29.35');
  assert.ok(aki);
  const akiValue = nodeContent(der, aki[aki.length - 1]);
  const entries = (revoked ? childNodes(der, revoked) : []).map((entry) => {
    const [serial, date, entryExts] = childNodes(der, entry);
    return {
      serialLength: serial.end - serial.body - (der[serial.body] === 0 ? 1 : 0),
      dateTag: date.tag,
      extensions: childNodes(der, entryExts).map((e): [string, boolean, string] => {
        const parts = childNodes(der, e);
        return [oidString(der, parts[0]), parts.length === 3, hex(nodeContent(der, parts[parts.length - 1]))];
      }),
    };
  });
  return {
    version: der[ver.body],
    signatureAlgorithm: algOid(alg),
    tbsSignatureAlgorithm: algOid(sigAlg),
    issuer: nameShape(der, issuer, dropOu),
    timeTags: [thisUpdate.tag, nextUpdate.tag],
    extensions,
    akiFields: childNodes(akiValue, readNode(akiValue, 0)).map((t) => t.tag),
    entries,
  };
}

// Intel's production certificates by role: the PCK chain inside the real SGX quote, the TCB signer from its collateral.
const realQuote = parseQuote(readVector('phala-dcap-qvl/sample/sgx_quote'));
const cd = realQuote.signatureData.certificationData;
if (cd.type !== 5) throw new Error('the real SGX sample quote carries a type-5 PCK chain');
const [realPck, realPckCa, realRoot] = cd.certificates;
const realCol = phalaCollateral('sample/sgx_quote_collateral.json');
const realTcbSigning = pemCertificates(realCol.tcb_info_issuer_chain, 'tcb chain')[0];
/** a real PCK CRL with revoked entries (Platform CA; entries are shaped alike for both CAs) */
const realCrlWithEntries = Buffer.from(phalaCollateral('sample/tdx_quote_collateral.json').pck_crl, 'hex');

const tmp = tempDir('kube-sgx-pki-');
let platform: SimPlatform;
let revokedPlatform: SimPlatform;
let pccs: SimPccs;
const simCert = (p: SimPlatform, file: string) => pemCertificates(readFileSync(join(p.dir, file), 'utf8'), file)[0];

before(async () => {
  platform = await SimPlatform.open(join(tmp.dir, 'seeded'), { seed: 'pki-structure', scenario: 'up-to-date' });
  revokedPlatform = await SimPlatform.open(join(tmp.dir, 'revoked'), { scenario: 'revoked' });
  pccs = await startSimPccs({ platform, listen: '127.0.0.1:0' });
});
after(async () => {
  await pccs.close();
  tmp.cleanup();
});

const ROLES = [
  { role: 'root CA', file: 'root-ca.pem', real: () => realRoot },
  { role: 'PCK Processor CA', file: 'pck-ca.pem', real: () => realPckCa },
  { role: 'PCK leaf', file: 'pck.pem', real: () => realPck },
  { role: 'TCB Signing', file: 'tcb-signing.pem', real: () => realTcbSigning },
] as const;

describe("simulated certificates are structured as Intel's", () => {
  for (const { role, file, real } of ROLES) {
    test(`${role}: extensions (order, criticality, values' form), names, serial, algorithms match Intel's`, () => {
      for (const p of [platform, revokedPlatform]) {
        const sim = certShape(simCert(p, file), true);
        const intel = certShape(real());
        // the CRL DP URI differs by design (the simulated PCCS, not Intel): compare its path, and everything else exactly
        assert.deepEqual({ ...sim, crlDp: undefined }, { ...intel, crlDp: undefined });
        assert.equal(sim.crlDp.points, 1);
        assert.equal(sim.crlDp.uris.length, 1);
        const path = (u: string) => new URL(u).pathname + new URL(u).search;
        assert.equal(path(sim.crlDp.uris[0]), path(intel.crlDp.uris[0]));
      }
    });
  }

  test("every simulated certificate carries the five extensions Intel's QVL requires, KU and BC critical", () => {
    const required = ['2.5.29.35', '2.5.29.31', '2.5.29.14', '2.5.29.15', '2.5.29.19'];
    for (const { file } of ROLES) {
      const exts = new Map(certShape(simCert(platform, file)).extensions);
      for (const oid of required) assert.ok(exts.has(oid), `${file} has ${oid}`);
      assert.equal(exts.get('2.5.29.15'), true);
      assert.equal(exts.get('2.5.29.19'), true);
    }
  });

  test('the only name difference is the added OU=kube-sgx simulation, a UTF8String', () => {
    const der = simCert(platform, 'pck.pem');
    const withOu = certShape(der).subject.attributes;
    const ou = withOu.filter(([oid]) => oid === OU);
    assert.deepEqual(ou, [[OU, 0x0c]]);
    assert.equal(withOu.length, certShape(realPck).subject.attributes.length + 1);
  });

  test('CRL Distribution Points name the simulated PCCS default address, never Intel', () => {
    for (const { file } of ROLES) {
      const [uri] = certShape(simCert(platform, file)).crlDp.uris;
      assert.equal(uri, file === 'pck.pem' ? SIM_CRL_URLS.pckProcessor : SIM_CRL_URLS.rootCa);
      assert.ok(!uri.includes('intel.com'));
    }
  });

  test('kube-sgx sim pccs serves each certificate’s CRL Distribution Point: the DER CRL of its issuer', async () => {
    const c = platform.collateral();
    for (const { file } of ROLES) {
      const url = new URL(certShape(simCert(platform, file)).crlDp.uris[0]);
      const res = await fetch(pccs.url + url.pathname + url.search);
      assert.equal(res.status, 200);
      assert.equal(res.headers.get('content-type'), 'application/pkix-crl');
      const der = Buffer.from(await res.arrayBuffer()).toString('hex');
      assert.equal(der, file === 'pck.pem' ? c.pck_crl : c.root_ca_crl);
    }
  });
});

describe("simulated CRLs are structured as Intel's", () => {
  test("root CA CRL and PCK CRL: v2, ecdsa-with-SHA256, CRL Number and AKI (non-critical, key id only) as Intel's", () => {
    const c = platform.collateral();
    const pairs = [
      [c.root_ca_crl, realCol.root_ca_crl],
      [c.pck_crl, realCol.pck_crl],
    ];
    for (const [sim, real] of pairs) {
      assert.deepEqual(crlShape(Buffer.from(sim, 'hex'), true), crlShape(Buffer.from(real, 'hex')));
    }
  });

  test('a revoked entry is shaped as Intel’s: 20-byte serial, UTCTime, reason keyCompromise', () => {
    const sim = crlShape(Buffer.from(revokedPlatform.collateral().pck_crl, 'hex'), true);
    const intel = crlShape(realCrlWithEntries);
    assert.equal(sim.entries.length, 1);
    assert.ok(intel.entries.length > 0);
    assert.deepEqual(sim.entries[0], intel.entries[0]);
  });
});
