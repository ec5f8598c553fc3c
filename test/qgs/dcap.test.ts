/**
 * The dcap QGS backend through koffi against a stand-in libsgx_tdx_logic and
 * quote provider built here with gcc from the C below (Intel's exact
 * signatures), over a real QGS socket.
 */
import { strict as assert } from 'node:assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import koffi from 'koffi';
import { silentLogger } from '../../src/ops/log.js';
import { QgsDcapBackend } from '../../src/qgs/dcap-backend.js';
import { QgsClient, QgsError, QgsServer } from '../../src/qgs/index.js';
import { startQgs } from '../../src/qgs/service.js';
import { tempDir } from '../quotehelper/util.js';

const FAKE_TDX_LOGIC_C = `
#include <stdint.h>
#include <stddef.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>
typedef struct { int key; int refreshes; int contexts; } ctx_t;
static ctx_t the_ctx;
static volatile int inside = 0;  /* detects overlapping calls */
int fake_refreshes(void) { return the_ctx.refreshes; }
uint32_t tee_att_create_context(const void *key_id, const char *qe_path, ctx_t **pp) {
  if (key_id || qe_path || !pp) return 0x11002;
  the_ctx.contexts++;
  *pp = &the_ctx;
  return 0;
}
uint32_t tee_att_init_quote(const ctx_t *c, uint8_t *ti, bool refresh, size_t *hash_size, uint8_t *hash) {
  if (c != &the_ctx || !ti || !hash_size || *hash_size != 32 || !hash) return 0x11002;
  memset(ti, 0x5a, 512);
  memset(hash, 0x33, 32);
  /* a key certified without refresh is "not initialized" for quoting until one refresh: exercises QGS's retry */
  if (refresh) { the_ctx.key = 1; the_ctx.refreshes++; }
  return 0;
}
uint32_t tee_att_get_quote_size(const ctx_t *c, uint32_t *size) {
  if (c != &the_ctx || !size) return 0x11002;
  if (!the_ctx.key) return 0x1100f; /* TEE_ATT_ATT_KEY_NOT_INITIALIZED */
  *size = 1100;
  return 0;
}
static uint32_t quote(const uint8_t *report, uint32_t report_size, uint8_t *out, uint32_t size) {
  if (report_size != 1024 || size < 1100) return 0x11002;
  if (report[0] != 0x81) return 0x11015;  /* TEE_ATT_INVALID_REPORT */
  if (report[1] == 0xee) return 0x11016;  /* TEE_ATT_ENCLAVE_LOAD_ERROR */
  memset(out, 0, size);
  out[0] = 4; out[4] = 0x81;
  memcpy(out + 48 + 520, report + 128, 64);  /* REPORTDATA where a v4 TD quote has it */
  return 0;
}
uint32_t tee_att_get_quote(const ctx_t *c, const uint8_t *report, uint32_t report_size, void *qe_report_info, uint8_t *out, uint32_t size) {
  if (c != &the_ctx || qe_report_info) return 0x11002;
  if (__sync_fetch_and_add(&inside, 1) != 0) { __sync_fetch_and_sub(&inside, 1); return 0x11043; }
  usleep(1000);
  uint32_t rc = quote(report, report_size, out, size);
  __sync_fetch_and_sub(&inside, 1);
  return rc;
}
#pragma pack(push, 1)
typedef struct { uint8_t platform_id[16]; uint8_t cpu_svn[16]; uint16_t tdqe_isv_svn; uint16_t pce_isv_svn; } tee_platform_info_t;
#pragma pack(pop)
uint32_t tee_att_get_platform_info(const ctx_t *c, tee_platform_info_t *p) {
  if (c != &the_ctx || !p) return 0x11002;
  memset(p->platform_id, 0x11, 16); memset(p->cpu_svn, 0x22, 16);
  p->tdqe_isv_svn = 4; p->pce_isv_svn = 13;
  return 0;
}
`;

const FAKE_QPL_C = `
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
typedef struct {
  uint16_t major_version; uint16_t minor_version; uint32_t tee_type;
  char *pck_crl_issuer_chain; uint32_t pck_crl_issuer_chain_size;
  char *root_ca_crl; uint32_t root_ca_crl_size;
  char *pck_crl; uint32_t pck_crl_size;
  char *tcb_info_issuer_chain; uint32_t tcb_info_issuer_chain_size;
  char *tcb_info; uint32_t tcb_info_size;
  char *qe_identity_issuer_chain; uint32_t qe_identity_issuer_chain_size;
  char *qe_identity; uint32_t qe_identity_size;
} tdx_ql_qv_collateral_t;
static int live = 0;
int fake_live_collaterals(void) { return live; }
static char *dup(const char *s, uint32_t *size) { *size = (uint32_t)strlen(s) + 1; char *p = malloc(*size); memcpy(p, s, *size); return p; }
uint32_t tdx_ql_get_quote_verification_collateral(const uint8_t *fmspc, uint16_t fmspc_size, const char *pck_ca, tdx_ql_qv_collateral_t **pp) {
  if (fmspc_size != 6 || fmspc[0] != 0x90 || strcmp(pck_ca, "platform") != 0) return 0xE011; /* SGX_QL_NO_QUOTE_COLLATERAL_DATA */
  tdx_ql_qv_collateral_t *c = calloc(1, sizeof *c);
  c->major_version = 3; c->minor_version = 1; c->tee_type = 0x81;
  c->pck_crl_issuer_chain = dup("pck-crl-issuer-chain", &c->pck_crl_issuer_chain_size);
  c->root_ca_crl = malloc(3); memcpy(c->root_ca_crl, "\\x30\\x01\\x00", 3); c->root_ca_crl_size = 3;
  c->pck_crl = dup("pck-crl", &c->pck_crl_size);
  c->tcb_info_issuer_chain = dup("tcb-chain", &c->tcb_info_issuer_chain_size);
  c->tcb_info = dup("{\\"tcbInfo\\":{}}", &c->tcb_info_size);
  c->qe_identity_issuer_chain = dup("qe-chain", &c->qe_identity_issuer_chain_size);
  c->qe_identity = dup("{\\"enclaveIdentity\\":{}}", &c->qe_identity_size);
  live++;
  *pp = c;
  return 0;
}
uint32_t tdx_ql_free_quote_verification_collateral(tdx_ql_qv_collateral_t *c) {
  free(c->pck_crl_issuer_chain); free(c->root_ca_crl); free(c->pck_crl); free(c->tcb_info_issuer_chain);
  free(c->tcb_info); free(c->qe_identity_issuer_chain); free(c->qe_identity); free(c);
  live--;
  return 0;
}
`;

const haveGcc = spawnSync('gcc', ['--version']).status === 0;

function tdReport(first: number, reportData: number): Buffer {
  const r = Buffer.alloc(1024);
  r[0] = first;
  r.fill(reportData, 128, 192);
  return r;
}

describe('dcap QGS backend: start-up errors name what is missing', () => {
  const t = tempDir('kube-sgx-qgs-dcap-');
  after(() => t.cleanup());

  test('no SGX devices → QGS_DCAP_NO_SGX_DEVICE; no library → QGS_DCAP_LIBRARY_UNAVAILABLE; no socket left behind', async () => {
    const empty = join(t.dir, 'empty');
    mkdirSync(empty);
    await assert.rejects(QgsDcapBackend.open({ devRoot: empty }), (e: { code: string; message: string }) => e.code === 'QGS_DCAP_NO_SGX_DEVICE' && e.message.includes('sgx_provision'));
    const root = join(t.dir, 'root');
    mkdirSync(join(root, 'dev'), { recursive: true });
    writeFileSync(join(root, 'dev', 'sgx_enclave'), '');
    writeFileSync(join(root, 'dev', 'sgx_provision'), '');
    const missing = join(t.dir, 'libsgx_tdx_logic.so.1');
    await assert.rejects(QgsDcapBackend.open({ devRoot: root, libraryPath: missing }), (e: { code: string; message: string }) => e.code === 'QGS_DCAP_LIBRARY_UNAVAILABLE' && e.message.includes(missing));
    const socketPath = join(t.dir, 'qgs.socket');
    await assert.rejects(startQgs({ backend: 'dcap', socketPath, dcap: { devRoot: root, libraryPath: missing }, logger: silentLogger }), { code: 'QGS_DCAP_LIBRARY_UNAVAILABLE' });
    assert.equal(spawnSync('test', ['-e', socketPath]).status, 1);
  });
});

describe('dcap QGS backend through koffi (stand-in libsgx_tdx_logic and quote provider built with gcc)', { skip: haveGcc ? false : 'gcc not available' }, () => {
  const t = tempDir('kube-sgx-qgs-dcap-');
  let lib = '';
  let qpl = '';
  let noApi = '';
  before(() => {
    const build = (name: string, src: string) => {
      writeFileSync(join(t.dir, `${name}.c`), src);
      const out = join(t.dir, `lib${name}.so`);
      const r = spawnSync('gcc', ['-shared', '-fPIC', '-o', out, join(t.dir, `${name}.c`)]);
      assert.equal(r.status, 0, r.stderr.toString());
      return out;
    };
    lib = build('fake_tdx_logic', FAKE_TDX_LOGIC_C);
    qpl = build('fake_qpl', FAKE_QPL_C);
    noApi = build('unrelated', 'int unrelated(void) { return 0; }\n');
  });
  after(() => t.cleanup());

  test('a library without the tee_att_* API → QGS_DCAP_LIBRARY_INCOMPATIBLE', async () => {
    await assert.rejects(QgsDcapBackend.open({ libraryPath: noApi, skipDeviceCheck: true }), { code: 'QGS_DCAP_LIBRARY_INCOMPATIBLE' });
  });

  test('quotes, the key-refresh retry, error mapping, collateral and platform info over the QGS socket', async () => {
    const backend = await QgsDcapBackend.open({ libraryPath: lib, qplPath: qpl, skipDeviceCheck: true });
    assert.equal(backend.describe().initQuote, 'ok');
    const socketPath = join(t.dir, 'qgs.socket');
    const server = await QgsServer.listen({ socketPath, backend, logger: silentLogger });
    const fake = koffi.load(lib);
    const refreshes = fake.func('int fake_refreshes(void)') as () => number;
    const live = koffi.load(qpl).func('int fake_live_collaterals(void)') as () => number;
    try {
      const client = new QgsClient({ socketPath, timeoutMs: 5000 });
      const q = await client.getQuote(tdReport(0x81, 0x42));
      assert.equal(q.length, 1100);
      assert.deepEqual(q.subarray(48 + 520, 48 + 584), Buffer.alloc(64, 0x42));
      assert.equal(refreshes(), 1, 'TEE_ATT_ATT_KEY_NOT_INITIALIZED → one init with refresh, one retry (as Intel’s QGS)');
      assert.equal((await client.getQuoteRaw(tdReport(0x81, 7))).length, 1100, 'raw mode');
      await assert.rejects(client.getQuote(tdReport(0x80, 1)), { code: 'QGS_ERROR', details: { qgsError: QgsError.INVALID_PARAMETER } });
      const loadError = tdReport(0x81, 1);
      loadError[1] = 0xee;
      await assert.rejects(client.getQuote(loadError), { code: 'QGS_ERROR', details: { qgsError: QgsError.UNEXPECTED } });
      // calls never overlap (one context): 20 concurrent quotes all succeed
      const many = await Promise.all(Array.from({ length: 20 }, (_, i) => client.getQuote(tdReport(0x81, i))));
      assert.equal(many.length, 20);
      const info = await client.getPlatformInfo();
      assert.deepEqual([info.tdqeIsvSvn, info.pceIsvSvn, info.platformId, info.cpuSvn], [4, 13, Buffer.alloc(16, 0x11), Buffer.alloc(16, 0x22)]);
      const c = await client.getCollateral(Buffer.from('90C06F000000', 'hex'), 'platform');
      assert.deepEqual([c.majorVersion, c.minorVersion], [3, 1]);
      assert.equal(c.tcbInfo.toString(), '{"tcbInfo":{}}\0');
      assert.deepEqual(c.rootCaCrl, Buffer.from([0x30, 0x01, 0x00]));
      assert.equal(c.qeIdentityIssuerChain.toString(), 'qe-chain\0');
      assert.equal(live(), 0, 'every collateral the provider returned was freed');
      await assert.rejects(client.getCollateral(Buffer.from('90C06F000000', 'hex'), 'processor'), { code: 'QGS_ERROR', details: { qgsError: QgsError.UNEXPECTED } });
    } finally {
      await server.close();
    }
  });

  test('without a quote provider, GET_COLLATERAL answers UNEXPECTED and quotes still work', async () => {
    const backend = await QgsDcapBackend.open({ libraryPath: lib, qplPath: join(t.dir, 'missing-qpl.so'), skipDeviceCheck: true });
    assert.match(String(backend.describe().qplError), /missing-qpl/);
    await assert.rejects(backend.getCollateral(Buffer.alloc(6), 'platform'), { code: 'QGS_DCAP_NO_QPL' });
    assert.equal((await backend.getQuote(tdReport(0x81, 1))).length, 1100);
  });
});
