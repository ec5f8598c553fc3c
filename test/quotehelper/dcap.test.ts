import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { AesmClient } from '../../src/quotehelper/client.js';
import { DcapBackend } from '../../src/quotehelper/dcap-backend.js';
import { startQuoteHelper } from '../../src/quotehelper/helper.js';
import { silentLogger } from '../../src/ops/log.js';
import { tempDir } from './util.js';

function fakeDevRoot(dir: string, layout: 'in-tree' | 'legacy' | 'enclave-only'): string {
  const root = join(dir, `root-${layout}`);
  if (layout === 'legacy') {
    mkdirSync(join(root, 'dev', 'sgx'), { recursive: true });
    writeFileSync(join(root, 'dev', 'sgx', 'enclave'), '');
    writeFileSync(join(root, 'dev', 'sgx', 'provision'), '');
  } else {
    mkdirSync(join(root, 'dev'), { recursive: true });
    writeFileSync(join(root, 'dev', 'sgx_enclave'), '');
    if (layout === 'in-tree') writeFileSync(join(root, 'dev', 'sgx_provision'), '');
  }
  return root;
}

describe('dcap backend: start-up errors name what is missing', () => {
  const t = tempDir();
  after(() => t.cleanup());

  test('no SGX devices → DCAP_NO_SGX_DEVICE listing the paths looked for', () => {
    const root = join(t.dir, 'empty');
    mkdirSync(root);
    assert.throws(() => DcapBackend.open({ devRoot: root, libraryPath: '/nonexistent/libsgx_dcap_ql.so.1' }), (e: unknown) => {
      const err = e as { code: string; message: string };
      assert.equal(err.code, 'DCAP_NO_SGX_DEVICE');
      assert.match(err.message, /dev\/sgx_provision/);
      assert.match(err.message, /dev\/sgx_enclave/);
      return true;
    });
  });

  test('enclave device without the provisioning device → DCAP_NO_SGX_DEVICE naming sgx_provision only', () => {
    const root = fakeDevRoot(t.dir, 'enclave-only');
    assert.throws(() => DcapBackend.open({ devRoot: root, libraryPath: '/nonexistent/libsgx_dcap_ql.so.1' }), (e: unknown) => {
      const err = e as { code: string; message: string };
      assert.equal(err.code, 'DCAP_NO_SGX_DEVICE');
      assert.match(err.message, /sgx_provision/);
      assert.doesNotMatch(err.message, /sgx_enclave[,]|sgx_enclave$/);
      return true;
    });
  });

  for (const layout of ['in-tree', 'legacy'] as const) {
    test(`devices present (${layout}), library absent → DCAP_LIBRARY_UNAVAILABLE naming the library`, () => {
      const root = fakeDevRoot(t.dir, layout);
      const lib = join(t.dir, 'no-such', 'libsgx_dcap_ql.so.1');
      assert.throws(() => DcapBackend.open({ devRoot: root, libraryPath: lib }), (e: unknown) => {
        const err = e as { code: string; message: string };
        assert.equal(err.code, 'DCAP_LIBRARY_UNAVAILABLE');
        assert.ok(err.message.includes(lib));
        return true;
      });
    });
  }

  test('startQuoteHelper with dcap and no library fails at start-up, no socket left, no silent simulation', async () => {
    const socketPath = join(t.dir, 'aesmd', 'aesm.socket');
    await assert.rejects(
      startQuoteHelper({ backend: 'dcap', socketPath, dcap: { devRoot: fakeDevRoot(t.dir, 'in-tree'), libraryPath: join(t.dir, 'missing.so') }, logger: silentLogger }),
      { code: 'DCAP_LIBRARY_UNAVAILABLE' },
    );
    assert.equal(existsSync(socketPath), false);
  });
});

const FAKE_LIB_C = `
#include <stdint.h>
#include <string.h>
#include <unistd.h>
static volatile int inside = 0;  /* detects overlapping calls */
uint32_t sgx_qe_get_target_info(uint8_t *ti) { memset(ti, 0x5a, 512); return 0; }
uint32_t sgx_qe_get_quote_size(uint32_t *size) { *size = 1000; return 0; }
static uint32_t quote(const uint8_t *report, uint32_t size, uint8_t *out) {
  if (report[0] == 0xff) return 0xE015;        /* SGX_QL_INVALID_REPORT */
  if (report[0] == 0xfe) return 0xE040;        /* SGX_QL_SERVICE_UNAVAILABLE: not mapped by aesmd */
  if (size < 1000) return 0xE002;
  memset(out, 0, size);
  out[0] = 3;
  memcpy(out + 48, report, 384);
  out[432] = 4;                                /* signature_data_len = 4 */
  return 0;
}
uint32_t sgx_qe_get_quote(const uint8_t *report, uint32_t size, uint8_t *out) {
  if (__sync_fetch_and_add(&inside, 1) != 0) { __sync_fetch_and_sub(&inside, 1); return 0xE043; /* BUSY */ }
  usleep(2000);
  uint32_t rc = quote(report, size, out);
  __sync_fetch_and_sub(&inside, 1);
  return rc;
}
`;

const haveGcc = spawnSync('gcc', ['--version']).status === 0;

describe('dcap backend through koffi (a stand-in libsgx_dcap_ql built with gcc)', { skip: haveGcc ? false : 'gcc not available' }, () => {
  const t = tempDir();
  let lib = '';
  let noSymbols = '';
  before(() => {
    writeFileSync(join(t.dir, 'fake.c'), FAKE_LIB_C);
    lib = join(t.dir, 'libfake_dcap_ql.so');
    const r = spawnSync('gcc', ['-shared', '-fPIC', '-o', lib, join(t.dir, 'fake.c')]);
    assert.equal(r.status, 0, r.stderr.toString());
    writeFileSync(join(t.dir, 'empty.c'), 'int unrelated(void) { return 0; }\n');
    noSymbols = join(t.dir, 'libempty.so');
    assert.equal(spawnSync('gcc', ['-shared', '-fPIC', '-o', noSymbols, join(t.dir, 'empty.c')]).status, 0);
  });
  after(() => t.cleanup());

  test('a library without the sgx_qe_* API → DCAP_LIBRARY_INCOMPATIBLE', () => {
    assert.throws(() => DcapBackend.open({ libraryPath: noSymbols, skipDeviceCheck: true }), { code: 'DCAP_LIBRARY_INCOMPATIBLE' });
  });

  test('target info, quote size, quote and error mapping via the aesm socket', async () => {
    const backend = DcapBackend.open({ libraryPath: lib, devRoot: fakeDevRoot(t.dir, 'in-tree') });
    const helper = await startQuoteHelper({ backend, socketPath: join(t.dir, 'dcap.socket'), logger: silentLogger });
    try {
      const client = new AesmClient({ socketPath: helper.socketPath, timeoutMs: 3000 });
      const init = await client.initQuoteEx(undefined, { pubKeyId: true });
      assert.ok(init.targetInfo.equals(Buffer.alloc(512, 0x5a)));
      assert.equal(init.pubKeyIdSize, 32);
      assert.equal(init.pubKeyId, undefined, 'sgx_qe_* does not expose the ECDSA_ID');
      assert.equal(await client.getQuoteSizeEx(), 1000);
      const report = Buffer.alloc(432, 7);
      const q = await client.getQuoteEx(report);
      assert.equal(q.raw.length, 1000);
      assert.equal(q.quote.length, 48 + 384 + 4 + 4);
      assert.ok(q.quote.subarray(48, 432).equals(report.subarray(0, 384)));
      await assert.rejects(client.getQuote(Buffer.alloc(432, 0xff)), { code: 'AESM_INVALID_REPORT' });
      await assert.rejects(client.getQuote(Buffer.alloc(432, 0xfe)), { code: 'AESM_UNEXPECTED_ERROR' });
      await assert.rejects(client.getQuoteEx(report, { qeReportInfo: { nonce: Buffer.alloc(16), appTargetInfo: Buffer.alloc(512) } }), { code: 'AESM_UNABLE_TO_GENERATE_QE_REPORT' });
      // Library calls never overlap (aesmd serialises QE3 calls too): 20 concurrent quotes all succeed.
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => client.getQuote(Buffer.alloc(432, i + 1))));
      assert.equal(many.length, 20);
      const text = await helper.metrics.registry.metrics();
      assert.match(text, /kube_sgx_quote_helper_info\{backend="dcap",simulated="false"\} 1/);
    } finally {
      await helper.stop();
    }
  });
});
