/** Collateral JSON read/write, TCB Info / QE Identity parsing, signed-body slicing. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCollateral, serializeCollateral, parseTcbInfo, parseEnclaveIdentity, collateralFromParts } from '../../src/dcap/index.js';
import { splitSignedBody, topLevelSpans } from '../../src/dcap/signed-json.js';
import { toPem } from '../../src/dcap/pem.js';
import { PHALA, intelSampleCollateral, phalaCollateral, readText, rejects } from './helpers.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const sgxText = readFileSync(join(PHALA, 'sample/sgx_quote_collateral.json'), 'utf8');

describe('collateral JSON', () => {
  test('round-trips the dcap-qvl sample files exactly (values unchanged)', () => {
    for (const f of ['sample/sgx_quote_collateral.json', 'sample/tdx_quote_collateral.json', 'sample/tdx_quote_outdated_collateral.json', 'tests/near/quote/quote_collateral.json']) {
      const original = JSON.parse(readFileSync(join(PHALA, f), 'utf8')) as Record<string, string>;
      const c = parseCollateral(readFileSync(join(PHALA, f), 'utf8'));
      const again = parseCollateral(serializeCollateral(c));
      assert.deepEqual(again, c);
      for (const k of Object.keys(c)) assert.equal((c as unknown as Record<string, string>)[k], original[k], `${f}: ${k}`);
    }
  });
  test('serialises keys in the canonical snake_case order', () => {
    const keys = Object.keys(JSON.parse(serializeCollateral(phalaCollateral('sample/sgx_quote_collateral.json'))) as object);
    assert.deepEqual(keys, ['pck_crl_issuer_chain', 'root_ca_crl', 'pck_crl', 'tcb_info_issuer_chain', 'tcb_info', 'tcb_info_signature', 'qe_identity_issuer_chain', 'qe_identity', 'qe_identity_signature']);
  });
  test('a missing field is named', () => {
    const o = JSON.parse(sgxText) as Record<string, unknown>;
    delete o.qe_identity_issuer_chain;
    const e = rejects(() => parseCollateral(o), 'COLLATERAL_INVALID', 'qe_identity_issuer_chain');
    assert.deepEqual(e.path, ['qe_identity_issuer_chain']);
  });
  test('a bad signature field is named', () => void rejects(() => parseCollateral({ ...(JSON.parse(sgxText) as object), tcb_info_signature: 'zz' }), 'COLLATERAL_INVALID', 'tcb_info_signature'));
  test('a CRL that is neither hex nor PEM is named', () => void rejects(() => parseCollateral({ ...(JSON.parse(sgxText) as object), pck_crl: 'not a crl' }), 'CRL_MALFORMED', 'pck_crl'));
  test('not JSON → COLLATERAL_INVALID', () => void rejects(() => parseCollateral('{'), 'COLLATERAL_INVALID'));
  test('PEM CRLs are accepted and normalised to hex of DER', () => {
    const o = JSON.parse(sgxText) as Record<string, string>;
    const c = parseCollateral({ ...o, pck_crl: toPem(Buffer.from(o.pck_crl, 'hex'), 'X509 CRL') });
    assert.equal(c.pck_crl, o.pck_crl);
  });
  test("Intel's C form (whole PCS body in tcb_info / qe_identity, no separate signature) is accepted", () => {
    const o = JSON.parse(sgxText) as Record<string, string>;
    const c = parseCollateral({
      ...o,
      tcb_info: `{"tcbInfo":${o.tcb_info},"signature":"${o.tcb_info_signature}"}`,
      tcb_info_signature: undefined,
      qe_identity: `{"enclaveIdentity":${o.qe_identity},"signature":"${o.qe_identity_signature}"}`,
      qe_identity_signature: undefined,
    });
    assert.equal(c.tcb_info, o.tcb_info);
    assert.equal(c.qe_identity_signature, o.qe_identity_signature);
  });
  test("Intel's sampleData files (PCS bodies, DER CRLs) assemble into collateral", () => {
    const c = intelSampleCollateral();
    assert.ok(c.tcb_info.startsWith('{"version":2'));
  });
  test('collateralFromParts rejects a body without its signature', () =>
    assert.throws(() => collateralFromParts({ ...partsOf(), tcbInfoBody: '{"tcbInfo":{}}' }), /signature/));
});

function partsOf() {
  const c = phalaCollateral('sample/sgx_quote_collateral.json');
  return {
    pckCrlIssuerChain: c.pck_crl_issuer_chain,
    rootCaCrl: c.root_ca_crl,
    pckCrl: c.pck_crl,
    tcbInfoIssuerChain: c.tcb_info_issuer_chain,
    tcbInfoBody: `{"tcbInfo":${c.tcb_info},"signature":"${c.tcb_info_signature}"}`,
    qeIdentityIssuerChain: c.qe_identity_issuer_chain,
    qeIdentityBody: `{"enclaveIdentity":${c.qe_identity},"signature":"${c.qe_identity_signature}"}`,
  };
}

describe('signed JSON slicing', () => {
  test('returns the exact text of each member, whitespace and all', () => {
    const spans = topLevelSpans('{ "a" : { "x" : [1, "}"] } , "signature":"ab" }', 't');
    assert.equal(spans.get('a'), '{ "x" : [1, "}"] }');
    assert.equal(spans.get('signature'), '"ab"');
  });
  test('rejects duplicate top-level keys, trailing text, and unterminated input', () => {
    assert.throws(() => topLevelSpans('{"a":1,"a":2}', 't'), /duplicate key/);
    assert.throws(() => topLevelSpans('{"a":1} x', 't'), /trailing/);
    assert.throws(() => topLevelSpans('{"a":{"b":1}', 't'), /expected "," or "}"|unterminated/);
    assert.throws(() => topLevelSpans('{"a":"b', 't'), /unterminated/);
    assert.throws(() => splitSignedBody('{"tcbInfo":{},"signature":1}', 'tcbInfo'), /signature/);
  });
  test("Intel's sample PCS bodies slice to the signed object", () => {
    const s = splitSignedBody(readText('intel-qvl-sampledata/sampleData/qeIdentity.json'), 'enclaveIdentity');
    assert.ok(s.body.startsWith('{"id":"QE"'));
    assert.equal(s.signature.length, 128);
  });
});

describe('TCB Info and Enclave Identity', () => {
  test('v3 SGX: 16 components, levels sorted descending', () => {
    const t = parseTcbInfo(phalaCollateral('sample/sgx_quote_collateral.json').tcb_info);
    assert.equal(t.id, 'SGX');
    assert.equal(t.version, 3);
    assert.equal(t.tcbLevels[0].sgxComponents.length, 16);
    assert.equal(t.tcbLevels.length, 11);
  });
  test('v3 TDX: module identities, TDX components', () => {
    const t = parseTcbInfo(phalaCollateral('sample/tdx_quote_collateral.json').tcb_info);
    assert.equal(t.id, 'TDX');
    assert.ok(t.tdxModule);
    assert.deepEqual(t.tdxModuleIdentities.map((m) => m.id).sort(), ['TDX_01', 'TDX_03']);
    assert.equal(t.tcbLevels[0].tdxComponents?.length, 16);
  });
  test('v2 (Intel sample): flat sgxtcbcompNNsvn fields', () => {
    const t = parseTcbInfo(intelSampleCollateral().tcb_info);
    assert.equal(t.version, 2);
    assert.equal(t.fmspc, '00707F000000');
    assert.deepEqual(t.tcbLevels[0].sgxComponents.slice(0, 7), [0, 3, 0, 0, 0, 1, 1]);
  });
  test("Intel's TDX sample (lowercase fmspc, SVNs > 255 truncated to 8 bits as Intel's QVL does)", () => {
    const s = splitSignedBody(readText('intel-qvl-sampledata/sampleData/tdx/tcbInfo.json'), 'tcbInfo');
    const t = parseTcbInfo(s.body);
    assert.match(t.fmspc, /^[0-9A-F]{12}$/);
    for (const l of t.tcbLevels) for (const c of l.tdxComponents ?? []) assert.ok(c <= 255);
  });
  test('a bad field is named with its path', () => {
    const j = JSON.parse(phalaCollateral('sample/sgx_quote_collateral.json').tcb_info) as { tcbLevels: Array<{ tcb: { pcesvn: unknown } }> };
    j.tcbLevels[2].tcb.pcesvn = 'x';
    const e = rejects(() => parseTcbInfo(JSON.stringify(j)), 'TCB_INFO_INVALID', 'tcbInfo.tcbLevels.2.tcb.pcesvn');
    assert.deepEqual(e.path, ['tcbInfo', 'tcbLevels', 2, 'tcb', 'pcesvn']);
  });
  test('a bad component SVN is named with its path', () => {
    const j = JSON.parse(phalaCollateral('sample/sgx_quote_collateral.json').tcb_info) as { tcbLevels: Array<{ tcb: { sgxtcbcomponents: Array<{ svn: unknown }> } }> };
    j.tcbLevels[1].tcb.sgxtcbcomponents[3].svn = -1;
    void rejects(() => parseTcbInfo(JSON.stringify(j)), 'TCB_INFO_INVALID', 'tcbInfo.tcbLevels.1.tcb.sgxtcbcomponents.3.svn');
  });
  test('an impossible date is rejected, not silently NaN (fail closed)', () => {
    const t = phalaCollateral('sample/sgx_quote_collateral.json').tcb_info.replace('"nextUpdate":"2025-07-19', '"nextUpdate":"2025-19-19');
    void rejects(() => parseTcbInfo(t), 'TCB_INFO_INVALID', 'tcbInfo.nextUpdate');
  });
  test('TDX TCB Info without tdxModule → TCB_INFO_INVALID', () => {
    const j = JSON.parse(phalaCollateral('sample/tdx_quote_collateral.json').tcb_info) as Record<string, unknown>;
    delete j.tdxModule;
    rejects(() => parseTcbInfo(JSON.stringify(j)), 'TCB_INFO_INVALID', 'tdxModule');
  });
  test('Enclave Identity: QE and TD_QE; version 1 rejected', () => {
    assert.equal(parseEnclaveIdentity(phalaCollateral('sample/sgx_quote_collateral.json').qe_identity).id, 'QE');
    assert.equal(parseEnclaveIdentity(phalaCollateral('sample/tdx_quote_collateral.json').qe_identity).id, 'TD_QE');
    rejects(() => parseEnclaveIdentity('{"version":1}'), 'QE_IDENTITY_UNSUPPORTED_VERSION');
    rejects(() => parseEnclaveIdentity('[1'), 'QE_IDENTITY_INVALID');
  });
});
