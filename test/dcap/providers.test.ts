/** Collateral providers against a loopback server with PCS / PCCS / THIM paths and headers, and a directory. */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CachingCollateralProvider,
  DirectoryCollateralProvider,
  PccsCollateralProvider,
  PcsCollateralProvider,
  QuoteVerifier,
  serializeCollateral,
  ThimCollateralProvider,
  type CollateralProvider,
} from '../../src/dcap/index.js';
import { at, phalaCollateral, readVector } from './helpers.js';
import { startCollateralServer, type CollateralServer } from './collateral-server.js';
import { KubeSgxError } from '../../src/errors.js';

const sgx = phalaCollateral('sample/sgx_quote_collateral.json');
const tdx = phalaCollateral('sample/tdx_quote_collateral.json');
const SGX_REQ = { fmspc: '00A067110000', ca: 'processor', tee: 'SGX' } as const;
const TDX_REQ = { fmspc: 'B0C06F000000', ca: 'platform', tee: 'TDX' } as const;
let server: CollateralServer;

before(async () => {
  server = await startCollateralServer({ 'SGX/00A067110000': sgx, 'TDX/B0C06F000000': tdx });
});
after(() => server.close());

async function rejectsCode(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => e instanceof KubeSgxError && e.code === code);
}

describe('HTTP providers (loopback server, real paths and headers)', () => {
  test('Intel PCS v4: SGX and TDX collateral equal the saved files', async () => {
    const p = new PcsCollateralProvider({ baseUrl: `${server.url}/pcs`, rootCaCrlUrl: `${server.url}/pcs/IntelSGXRootCA.der` });
    assert.deepEqual(await p.getCollateral(SGX_REQ), sgx);
    assert.deepEqual(await p.getCollateral(TDX_REQ), tdx);
    assert.ok(server.requests.some((r) => r === '/pcs/sgx/certification/v4/pckcrl?ca=processor&encoding=der'));
    assert.ok(server.requests.some((r) => r === '/pcs/tdx/certification/v4/tcb?fmspc=B0C06F000000'));
    assert.ok(server.requests.some((r) => r === '/pcs/tdx/certification/v4/qe/identity'));
  });
  test('PCCS: hex CRLs, rootcacrl endpoint, SGX-TCB-Info-Issuer-Chain header', async () => {
    const p = new PccsCollateralProvider(`${server.url}/pccs/`);
    assert.deepEqual(await p.getCollateral(SGX_REQ), sgx);
    assert.ok(server.requests.includes('/pccs/sgx/certification/v4/rootcacrl'));
  });
  test('Azure THIM: acccache form for SGX (pckcrl?uri=…), regional form for TDX', async () => {
    const p = new ThimCollateralProvider(`${server.url}/thim`);
    assert.deepEqual(await p.getCollateral(SGX_REQ), sgx);
    assert.deepEqual(await p.getCollateral(TDX_REQ), tdx);
    const crlReq = server.requests.find((r) => r.startsWith('/thim/sgx/certification/v3/pckcrl?uri='));
    assert.ok(crlReq);
    assert.equal(new URL(crlReq, 'http://x').searchParams.get('uri'), 'https://certificates.trustedservices.intel.com/intelsgxpckprocessor.crl');
    assert.ok(server.requests.some((r) => r.startsWith('/thim/sgx/certification/v3/tcb?fmspc=00a067110000&clientid=production_client&api-version=2018-10-01-preview')));
  });
  test('an unknown FMSPC → COLLATERAL_FETCH_FAILED (HTTP 404)', async () =>
    rejectsCode(new PcsCollateralProvider({ baseUrl: `${server.url}/pcs`, rootCaCrlUrl: `${server.url}/pcs/IntelSGXRootCA.der` }).getCollateral({ ...SGX_REQ, fmspc: '112233445566' }), 'COLLATERAL_FETCH_FAILED'));
  test('a bad request is refused before any I/O → COLLATERAL_REQUEST_INVALID', async () =>
    rejectsCode(new PcsCollateralProvider({ baseUrl: server.url }).getCollateral({ ...SGX_REQ, fmspc: 'xyz' }), 'COLLATERAL_REQUEST_INVALID'));
  test('nothing listening → COLLATERAL_FETCH_FAILED', async () =>
    rejectsCode(new PccsCollateralProvider('http://127.0.0.1:1').getCollateral(SGX_REQ), 'COLLATERAL_FETCH_FAILED'));
});

describe('directory and cache', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'kube-sgx-col-'));
    writeFileSync(join(dir, 'sgx-00A067110000-processor.json'), serializeCollateral(sgx));
    writeFileSync(join(dir, 'B0C06F000000.json'), serializeCollateral(tdx));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('reads <tee>-<FMSPC>-<ca>.json, then <FMSPC>.json', async () => {
    const p = new DirectoryCollateralProvider(dir);
    assert.deepEqual(await p.getCollateral(SGX_REQ), sgx);
    assert.deepEqual(await p.getCollateral(TDX_REQ), tdx);
    await rejectsCode(p.getCollateral({ ...SGX_REQ, fmspc: '000000000000' }), 'COLLATERAL_NOT_FOUND');
  });

  test('the cache serves until the earliest nextUpdate, then fetches again; concurrent requests share a fetch', async () => {
    let fetches = 0;
    const inner: CollateralProvider = {
      getCollateral: async () => {
        fetches++;
        return sgx;
      },
    };
    let now = at('2025-07-01T00:00:00Z');
    const cache = new CachingCollateralProvider(inner, { now: () => now });
    await Promise.all([cache.getCollateral(SGX_REQ), cache.getCollateral(SGX_REQ)]);
    await cache.getCollateral(SGX_REQ);
    assert.equal(fetches, 1);
    now = at('2025-07-19T10:01:19Z'); // one second past the QE Identity nextUpdate
    await cache.getCollateral(SGX_REQ);
    assert.equal(fetches, 2);
  });

  test('failed fetches are not cached', async () => {
    let calls = 0;
    const cache = new CachingCollateralProvider({
      getCollateral: async () => {
        calls++;
        throw new KubeSgxError('COLLATERAL_FETCH_FAILED', 'down');
      },
    });
    await rejectsCode(cache.getCollateral(SGX_REQ), 'COLLATERAL_FETCH_FAILED');
    await rejectsCode(cache.getCollateral(SGX_REQ), 'COLLATERAL_FETCH_FAILED');
    assert.equal(calls, 2);
  });
});

describe('QuoteVerifier with a provider', () => {
  test('looks collateral up by FMSPC / CA / TEE from the quote and caches it', async () => {
    const before = server.requests.length;
    const v = new QuoteVerifier({ collateralProvider: new PccsCollateralProvider(`${server.url}/pccs`), now: () => at('2025-07-01T00:00:00Z') });
    const q = readVector('phala-dcap-qvl/sample/sgx_quote');
    assert.equal((await v.verify(q)).status, 'ConfigurationAndSWHardeningNeeded');
    const afterFirst = server.requests.length;
    assert.equal(afterFirst - before, 4, 'pckcrl, rootcacrl, tcb, qe/identity');
    assert.equal((await v.verify(readVector('phala-dcap-qvl/sample/tdx_quote'))).status, 'UpToDate');
    await v.verify(q);
    assert.equal(server.requests.length, afterFirst + 4, 'only the TDX set was fetched');
  });
  test('without collateral or provider → COLLATERAL_MISSING', async () =>
    rejectsCode(new QuoteVerifier().verify(readVector('phala-dcap-qvl/sample/sgx_quote')), 'COLLATERAL_MISSING'));
});
