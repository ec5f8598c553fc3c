import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { SimPlatform, startSimPccs, type SimPccs } from '../../src/sim/index.js';
import { PccsCollateralProvider, PcsCollateralProvider, QuoteVerifier, verifyQuote } from '../../src/dcap/index.js';
import { isCode, tempDir } from './helpers.js';

const tmp = tempDir();
let platform: SimPlatform;
let pccs: SimPccs;
before(async () => {
  platform = await SimPlatform.open(join(tmp.dir, 'p'), { scenario: 'sw-hardening-needed' });
  pccs = await startSimPccs({ platform, listen: '127.0.0.1:0' });
});
after(async () => {
  await pccs.close();
  tmp.cleanup();
});

const quote = () => platform.getQuote(platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: Buffer.from('pccs') })).quote;
const get = (path: string, init?: RequestInit) => fetch(pccs.url + path, init);

describe('simulated PCCS', () => {
  test("the verifier's PccsCollateralProvider fetches collateral that verifies with the scenario's status", async () => {
    const provider = new PccsCollateralProvider(pccs.url);
    const c = await provider.getCollateral({ fmspc: platform.fmspc, ca: 'processor', tee: 'SGX' });
    assert.equal(c.tcb_info, platform.collateral().tcb_info);
    assert.equal(c.pck_crl, platform.collateral().pck_crl);
    assert.equal(c.root_ca_crl, platform.collateral().root_ca_crl);
    const r = verifyQuote(quote(), c, { trustedRoots: [platform.rootCaPem] });
    assert.equal(r.status, 'SWHardeningNeeded');
  });

  test('the PCS provider (DER CRL, rootcacrl from a URL) works against it too', async () => {
    const provider = new PcsCollateralProvider({ baseUrl: pccs.url, rootCaCrlUrl: `${pccs.url}/sgx/certification/v4/rootcacrl` });
    const c = await provider.getCollateral({ fmspc: platform.fmspc.toLowerCase(), ca: 'processor', tee: 'SGX' });
    assert.equal(verifyQuote(quote(), c, { trustedRoots: [platform.rootCaPem] }).status, 'SWHardeningNeeded');
  });

  test('QuoteVerifier looks collateral up by the quote’s FMSPC through the PCCS', async () => {
    const v = new QuoteVerifier({ trustedRoots: [platform.rootCaPem], collateralProvider: new PccsCollateralProvider(pccs.url) });
    assert.equal((await v.verify(quote())).status, 'SWHardeningNeeded');
  });

  test('TCB info: the PCS body shape, JSON type and URL-encoded TCB-Info-Issuer-Chain', async () => {
    const res = await get(`/sgx/certification/v4/tcb?fmspc=${platform.fmspc}`);
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /application\/json/);
    const chain = decodeURIComponent(res.headers.get('tcb-info-issuer-chain') ?? '');
    assert.equal(chain, platform.collateral().tcb_info_issuer_chain);
    assert.ok(res.headers.get('request-id'));
    const body = await res.text();
    assert.equal(body, `{"tcbInfo":${platform.collateral().tcb_info},"signature":"${platform.collateral().tcb_info_signature}"}`);
  });

  test('QE identity with SGX-Enclave-Identity-Issuer-Chain', async () => {
    const res = await get('/sgx/certification/v4/qe/identity');
    assert.equal(res.status, 200);
    assert.equal(decodeURIComponent(res.headers.get('sgx-enclave-identity-issuer-chain') ?? ''), platform.collateral().qe_identity_issuer_chain);
    assert.ok((await res.text()).startsWith('{"enclaveIdentity":{"id":"QE"'));
  });

  test('PCK CRL: hex by default (PCCS), DER or PEM on request; root CA CRL as hex', async () => {
    const hex = await get('/sgx/certification/v4/pckcrl?ca=processor');
    assert.equal(hex.status, 200);
    assert.equal(await hex.text(), platform.collateral().pck_crl);
    assert.equal(decodeURIComponent(hex.headers.get('sgx-pck-crl-issuer-chain') ?? ''), platform.collateral().pck_crl_issuer_chain);
    const der = await get('/sgx/certification/v4/pckcrl?ca=processor&encoding=der');
    assert.equal(der.headers.get('content-type'), 'application/pkix-crl');
    assert.equal(Buffer.from(await der.arrayBuffer()).toString('hex'), platform.collateral().pck_crl);
    const pem = await (await get('/sgx/certification/v4/pckcrl?ca=processor&encoding=pem')).text();
    assert.match(pem, /^-----BEGIN X509 CRL-----\n/);
    assert.equal(await (await get('/sgx/certification/v4/rootcacrl')).text(), platform.collateral().root_ca_crl);
  });

  test('PCK certificate with SGX-TCBm, SGX-FMSPC, CA type and issuer chain headers', async () => {
    const res = await get('/sgx/certification/v4/pckcert?encrypted_ppid=00&cpusvn=00&pcesvn=0d00&pceid=0000');
    assert.equal(res.status, 200);
    assert.equal(await res.text(), platform.pckCertificatePem());
    assert.equal(res.headers.get('sgx-fmspc'), platform.fmspc);
    assert.equal(res.headers.get('sgx-pck-certificate-ca-type'), 'processor');
    assert.equal(res.headers.get('sgx-tcbm'), '0C0C0303FFFF01000000000000000000' + '0D00');
    assert.equal(decodeURIComponent(res.headers.get('sgx-pck-certificate-issuer-chain') ?? ''), platform.collateral().pck_crl_issuer_chain);
  });

  test('errors: unknown FMSPC 404, bad parameters 400, Platform CA 404, TDX 404, POST 405', async () => {
    assert.equal((await get('/sgx/certification/v4/tcb?fmspc=00906ED50000')).status, 404);
    assert.equal((await get('/sgx/certification/v4/tcb?fmspc=xyz')).status, 400);
    assert.equal((await get('/sgx/certification/v4/tcb')).status, 400);
    assert.equal((await get('/sgx/certification/v4/pckcrl?ca=platform')).status, 404);
    assert.equal((await get('/sgx/certification/v4/pckcrl?ca=other')).status, 400);
    assert.equal((await get('/sgx/certification/v4/pckcrl?ca=processor&encoding=xml')).status, 400);
    assert.equal((await get('/tdx/certification/v4/tcb?fmspc=' + platform.fmspc)).status, 404);
    assert.equal((await get('/sgx/certification/v4/qe/identity', { method: 'POST' })).status, 405);
    const head = await get('/sgx/certification/v4/qe/identity', { method: 'HEAD' });
    assert.equal(head.status, 200);
    await assert.rejects(new PccsCollateralProvider(pccs.url).getCollateral({ fmspc: '00906ED50000', ca: 'processor', tee: 'SGX' }), isCode('COLLATERAL_FETCH_FAILED'));
  });

  test('bad listen addresses are typed errors', async () => {
    await assert.rejects(startSimPccs({ platform, listen: 'nonsense' }), isCode('SIM_BAD_ARGUMENT'));
    const url = new URL(pccs.url);
    await assert.rejects(startSimPccs({ platform, listen: `127.0.0.1:${url.port}` }), isCode('SIM_PCCS_LISTEN_FAILED'));
  });
});
