/** maxEpcPerNode fromNodes: NodeEpcCapacity reading nodes through a local fake API server and through a lister. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { NodeEpcCapacity, nodeListerFromKubeConfig } from '../../src/webhook/nodecap.js';
import { parseWebhookConfig } from '../../src/webhook/index.js';
import { fakeApi, kubeConfigFor, list, node } from '../doctor/fake-api.js';

describe('maxEpcPerNode fromNodes', () => {
  test('maxEpcPerNode fromNodes reads node allocatable through the API and caches it', async () => {
    const api = await fakeApi({
      '/api/v1/nodes': list('NodeList', [
        node('a', { capacity: { 'sgx.intel.com/epc': '32Gi' } }),
        node('b', { capacity: { 'kubernetes.azure.com/sgx_epc_mem_in_MiB': '65536' } }),
        node('c', {}),
      ]),
    });
    try {
      const cap = new NodeEpcCapacity(nodeListerFromKubeConfig(kubeConfigFor(api.url)), 60_000);
      assert.equal(cap.current(), undefined, 'first call does not wait');
      assert.equal(await cap.refresh(), 64n << 30n);
      assert.equal(cap.current(), 64n << 30n);
      const calls = api.seen.filter((p) => p === '/api/v1/nodes').length;
      cap.current();
      assert.equal(api.seen.filter((p) => p === '/api/v1/nodes').length, calls, 'cached within the TTL');
      assert.equal(parseWebhookConfig({ maxEpcPerNode: 'fromNodes' }).maxEpcPerNode, 'fromNodes');
    } finally {
      api.server.close();
    }
  });
});

describe('NodeEpcCapacity', () => {
  test('an API failure keeps the last known value and records the error; the TTL triggers one refresh', async () => {
    let fail = false;
    let calls = 0;
    let now = 0;
    const cap = new NodeEpcCapacity(
      async () => {
        calls++;
        if (fail) throw new Error('connection refused');
        return [{ status: { allocatable: { 'sgx.intel.com/epc': '8Gi' } } }];
      },
      1000,
      () => now,
    );
    assert.equal(await cap.refresh(), 8n << 30n);
    fail = true;
    now = 5000;
    assert.equal(cap.current(), 8n << 30n, 'stale value served while refreshing');
    assert.equal(cap.current(), 8n << 30n);
    await cap.refresh();
    assert.equal(calls, 2, 'concurrent refreshes share one request');
    assert.equal(cap.current(), 8n << 30n);
    assert.equal(cap.lastError, 'connection refused');
  });
});
