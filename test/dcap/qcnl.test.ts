/**
 * Intel's QCNL configuration as kube-sgx reads it: JSON with comments or the
 * legacy KEY=VALUE form, strict types, and named errors for a file that
 * cannot be read, does not parse, or names no PCCS.
 */
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkQcnlForQuoting, parseQcnlConfig, qcnlCollateralSource, readQcnlConfig } from '../../src/dcap/qcnl.js';

const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-qcnl-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
const code = (fn: () => unknown) => {
  try {
    fn();
  } catch (e) {
    return (e as { code?: string }).code;
  }
  return undefined;
};

describe('QCNL configuration', () => {
  test('JSON with // and /* */ comments, Intel\'s leading-comma style, a // inside a string kept', () => {
    const cfg = parseQcnlConfig(
      `{
  // PCCS server address
  "pccs_url": "https://pccs.example.com:8081/sgx/certification/v4/"
  /* accept a self-signed certificate */
  ,"use_secure_cert": false
  ,"collateral_service": "https://api.trustedservices.intel.com/sgx/certification/v4/"
  ,"retry_times": 6
  ,"retry_delay": 10
  ,"tcb_update_type": "Early"
  ,"custom_request_options": { "get_cert": { "headers": { "metadata": "true" } } }
}`,
      'a.conf',
    );
    assert.equal(cfg.pccsUrl, 'https://pccs.example.com:8081/sgx/certification/v4/');
    assert.equal(cfg.useSecureCert, false);
    assert.equal(cfg.retryTimes, 6);
    assert.equal(cfg.tcbUpdateType, 'early');
    // collateral_service wins over pccs_url for verification, as in Intel's QCNL
    assert.deepEqual(qcnlCollateralSource(cfg), { kind: 'pcs', baseUrl: 'https://api.trustedservices.intel.com', insecureTls: true, update: 'early' });
    assert.deepEqual(qcnlCollateralSource({ ...cfg, collateralService: undefined }), { kind: 'pccs', baseUrl: 'https://pccs.example.com:8081', insecureTls: true, update: 'early' });
  });

  test('the legacy KEY=VALUE form', () => {
    const cfg = parseQcnlConfig('# PCCS server address\nPCCS_URL=https://10.0.0.5:8081/sgx/certification/v3/\nUSE_SECURE_CERT=FALSE\nRETRY_TIMES=3\nSOMETHING_ELSE=1\n', 'legacy.conf');
    assert.equal(cfg.pccsUrl, 'https://10.0.0.5:8081/sgx/certification/v3/');
    assert.equal(cfg.useSecureCert, false);
    assert.equal(cfg.retryTimes, 3);
    assert.equal(qcnlCollateralSource(cfg).baseUrl, 'https://10.0.0.5:8081');
  });

  test('no PCCS: QCNL_PCCS_URL_MISSING for quoting and for collateral, naming the file and the key to set', () => {
    for (const text of ['{ "pccs_url": "" }', '{ "use_secure_cert": true }', '{ "pccs_url": "   " }']) {
      const cfg = parseQcnlConfig(text, '/etc/sgx_default_qcnl.conf');
      assert.throws(() => checkQcnlForQuoting(cfg), (e: Error & { code?: string }) => e.code === 'QCNL_PCCS_URL_MISSING' && e.message.startsWith('/etc/sgx_default_qcnl.conf: pccs_url is not set'));
      assert.equal(code(() => qcnlCollateralSource(cfg)), 'QCNL_PCCS_URL_MISSING');
    }
    // a local PCK URL or a pre-filled local cache is enough for quoting (Intel's "without PCCS" sample)
    assert.doesNotThrow(() => checkQcnlForQuoting(parseQcnlConfig('{ "local_cache_only": true, "collateral_service": "https://api.trustedservices.intel.com/sgx/certification/v4/" }', 'x')));
  });

  test('wrong types and malformed values are QCNL_CONFIG_INVALID (Intel\'s reader would skip them silently)', () => {
    const bad = [
      '{ "pccs_url": 8081 }',
      '{ "pccs_url": "pccs.example.com:8081" }',
      '{ "pccs_url": "ftp://pccs/sgx/certification/v4/" }',
      '{ "use_secure_cert": "false" }',
      '{ "retry_times": -1 }',
      '{ "tcb_update_type": "late" }',
      '{ "pccs_api_version": 3.1 }',
      '{ "pccs_url": "https://p/sgx/certification/v4/", }',
      '{ /* unterminated',
      '[1, 2]',
      'PCCS_URL https://x\n',
    ];
    for (const text of bad) assert.equal(code(() => parseQcnlConfig(text, 'x.conf')), 'QCNL_CONFIG_INVALID', text);
    // a URL the QPL cannot append its paths to
    assert.equal(code(() => qcnlCollateralSource(parseQcnlConfig('{ "pccs_url": "https://pccs.example.com:8081/" }', 'x'))), 'QCNL_CONFIG_INVALID');
  });

  test('a missing or unreadable file is QCNL_CONFIG_UNREADABLE', (t) => {
    assert.equal(code(() => readQcnlConfig(join(tmp, 'missing.conf'))), 'QCNL_CONFIG_UNREADABLE');
    assert.equal(code(() => readQcnlConfig(tmp)), 'QCNL_CONFIG_UNREADABLE', 'a directory');
    const f = join(tmp, 'locked.conf');
    writeFileSync(f, '{ "pccs_url": "https://p/sgx/certification/v4/" }');
    chmodSync(f, 0o000);
    if (process.getuid?.() === 0) {
      t.diagnostic('running as root: mode 000 does not stop reads; only the missing-file and directory cases ran');
      return;
    }
    assert.equal(code(() => readQcnlConfig(f)), 'QCNL_CONFIG_UNREADABLE');
  });
});
