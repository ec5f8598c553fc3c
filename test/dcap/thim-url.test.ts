/**
 * The THIM provider's SGX collateral version: from a URL ending in
 * /sgx/certification/vN (as QCNL's pccs_url and Azure write it; current Azure
 * DCAP clients use v4), else v3 as before. Checked on the paths it requests
 * from a local server.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { ThimCollateralProvider } from '../../src/dcap/index.js';

const paths: string[] = [];
const server = createServer((req, res) => {
  paths.push(req.url ?? '');
  res.writeHead(404);
  res.end();
});
await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
after(() => server.close());

async function requested(url: string, opts = {}): Promise<string[]> {
  paths.length = 0;
  await assert.rejects(new ThimCollateralProvider(url, opts).getCollateral({ fmspc: '00906ED50000', ca: 'processor', tee: 'SGX' }));
  // The four documents are fetched at once and the first 404 rejects: wait for the other requests.
  for (let i = 0; i < 200 && paths.length < 4; i++) await new Promise((r) => setTimeout(r, 10));
  return [...paths].sort();
}

test('a URL ending in /sgx/certification/v4/ fetches v4 collateral from that host', async () => {
  const got = await requested(`${base}/sgx/certification/v4/`);
  assert.equal(got.length, 4);
  assert.ok(got.every((p) => p.startsWith('/sgx/certification/v4/')), got.join(' '));
  assert.ok(got.some((p) => p.startsWith('/sgx/certification/v4/tcb?fmspc=00906ed50000')));
});

test('a bare host keeps v3; an explicit collateralVersion wins over the URL', async () => {
  assert.ok((await requested(base)).every((p) => p.startsWith('/sgx/certification/v3/')));
  assert.ok((await requested(`${base}/sgx/certification/v4`, { collateralVersion: 'v3' })).every((p) => p.startsWith('/sgx/certification/v3/')));
});
