/**
 * `kube-sgx doctor --node` against fake host trees, a real quote helper (sim
 * backend) on the aesmd socket, the simulated PCCS on 127.0.0.1, and QCNL
 * configs written as Intel ships them.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runNodeDoctor, formatNodeDoctorReport, type NodeDoctorReport } from '../../src/doctor/node.js';
import { parseQcnlConfig, QCNL_DEFAULT_PCCS_URL } from '../../src/node/qcnl.js';
import { SimPlatform, startSimPccs, type SimPccs } from '../../src/sim/index.js';
import { startQuoteHelper, type QuoteHelper } from '../../src/quotehelper/index.js';
import { silentLogger } from '../../src/ops/log.js';
import { runCli } from '../cli/run.js';
import { makeFakeHost, tempDir, removeDir, touch, MiB } from '../node/fake-host.js';

const dirs: string[] = [];
async function dir(): Promise<string> {
  const d = await tempDir('ksgx-nd-');
  dirs.push(d);
  return d;
}

/** An ELF header, then (for Intel's QPL) the DT_NEEDED name of the QCNL wrapper somewhere in the file. */
const elf = (needed = '') => Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0]), Buffer.alloc(56), Buffer.from(`\0${needed}\0`)]);
const INTEL_QPL = elf('libsgx_default_qcnl_wrapper.so.1');
const AZURE_QPL = elf('libcurl.so.4');

/** A QCNL config laid out as Intel ships it: // comments and leading commas. */
const intelStyleQcnl = (pccsUrl: string, secure = false) => `{
  // *** ATTENTION : This file is in JSON format so the keys are case sensitive. Don't change them.

  //PCCS server address
  "pccs_url": "${pccsUrl}"

  // To accept insecure HTTPS certificate, set this option to false
  ,"use_secure_cert": ${secure}

  //,"collateral_service": "https://api.trustedservices.intel.com/sgx/certification/v4/"

  // Maximum retry times for QCNL. If RETRY is not defined or set to 0, no retry will be performed.
  ,"retry_times": 6
  ,"retry_delay": 10
  /* cache settings */
  ,"pck_cache_expire_hours": 168
}
`;

async function sgxHost(root: string, opts: { qcnl?: string; qpl?: Buffer; ql?: boolean } = {}): Promise<string> {
  await makeFakeHost(root, { devices: ['dev/sgx_enclave', 'dev/sgx_provision'], epc: { 0: 64 * MiB } });
  const lib = join(root, 'usr/lib/x86_64-linux-gnu');
  await mkdir(lib, { recursive: true });
  if (opts.ql !== false) await writeFile(join(lib, 'libsgx_dcap_ql.so.1.22.100.3'), elf());
  if (opts.ql !== false) await symlink('libsgx_dcap_ql.so.1.22.100.3', join(lib, 'libsgx_dcap_ql.so.1'));
  if (opts.qpl) await writeFile(join(lib, 'libdcap_quoteprov.so.1'), opts.qpl);
  if (opts.qcnl !== undefined) await touch(join(root, 'etc/sgx_default_qcnl.conf'), opts.qcnl);
  return root;
}

const byCheck = (r: NodeDoctorReport) => Object.fromEntries(r.checks.map((c) => [c.check, c]));


let platformDir: string;
let pccs: SimPccs;
let notPccs: Server;
let notPccsUrl: string;
before(async () => {
  platformDir = join(await dir(), 'platform');
  pccs = await startSimPccs({ platform: await SimPlatform.open(platformDir, { seed: 'doctor-node' }), listen: '127.0.0.1:0' });
  notPccs = createServer((_req, res) => {
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('no such path\n');
  });
  await new Promise<void>((r) => notPccs.listen(0, '127.0.0.1', () => r()));
  notPccsUrl = `http://127.0.0.1:${(notPccs.address() as AddressInfo).port}/sgx/certification/v4/`;
});
after(async () => {
  await pccs.close();
  notPccs.close();
  for (const d of dirs) await removeDir(d);
});

describe('doctor --node', () => {
  let helper: QuoteHelper;
  let healthy: string;
  before(async () => {
    healthy = await sgxHost(join(await dir(), 'h'), { qpl: INTEL_QPL, qcnl: intelStyleQcnl(`${pccs.url}/sgx/certification/v4/`) });
    helper = await startQuoteHelper({ backend: 'sim', platformDir, socketPath: join(healthy, 'var/run/aesmd/aesm.socket'), logger: silentLogger });
  });
  after(() => helper.stop());

  test('a ready node: every check ok, through the library and the CLI (exit 0)', async () => {
    const r = await runNodeDoctor({ hostRoot: healthy });
    const c = byCheck(r);
    assert.deepEqual(
      r.checks.filter((x) => x.status !== 'ok'),
      [],
      formatNodeDoctorReport(r),
    );
    assert.deepEqual(Object.keys(c), ['cpu', 'driver', 'provision', 'epc', 'aesmd', 'qpl.dcap_ql', 'qpl.quoteprov', 'qcnl.config', 'pccs']);
    assert.match(c.epc!.message, /67108864 bytes \(64 MiB\) from sysfs/);
    assert.deepEqual(r.epc, { bytes: 64 * MiB, source: 'sysfs' });
    assert.match(c.aesmd!.message, /answers \(\d+ attestation key type/);
    assert.match(c['qpl.dcap_ql']!.message, /usr\/lib\/x86_64-linux-gnu\/libsgx_dcap_ql\.so\.1$/);
    assert.match(c['qpl.quoteprov']!.message, /Intel QPL/);
    assert.match(c['qcnl.config']!.message, /json format\): pccs_url http:\/\/127\.0\.0\.1:\d+\/sgx\/certification\/v4\/, use_secure_cert false/);
    assert.match(c.pccs!.message, /qe\/identity answered 200 with a QE identity/);
    assert.equal(r.ok, true);

    const cli = await runCli(['doctor', '--node', '--host-root', healthy]);
    assert.equal(cli.status, 0, cli.stdout + cli.stderr);
    assert.match(cli.stdout, /^OK {6}pccs: /m);
    assert.match(cli.stdout, /OK: node ready for SGX/);
  });

  test('EPC from CPUID is named with its source', async () => {
    const root = await dir();
    await makeFakeHost(root, { devices: ['dev/sgx/enclave', 'dev/sgx/provision'], cpuid: { sections: [{ base: 0x70200000, bytes: 92 * MiB }] } });
    const r = await runNodeDoctor({ hostRoot: root, timeoutMs: 1000 });
    assert.equal(byCheck(r).epc!.status, 'ok');
    assert.match(byCheck(r).epc!.message, /96468992 bytes \(92 MiB\) from CPUID leaf 0x12 via \/dev\/cpu\/0\/cpuid; sections 0x70200000\+96468992/);
    assert.deepEqual(r.epc, { bytes: 92 * MiB, source: 'cpuid' });
  });

  test('in the node agent\'s pod: --epc-file gives CPUID where the device cannot be opened; a missing file is an epc error', async () => {
    const root = await dir();
    await makeFakeHost(root, { devices: ['dev/sgx/enclave', 'dev/sgx/provision'] });
    await mkdir(join(root, 'dev/cpu/0'), { recursive: true });
    await symlink(join(root, 'nowhere'), join(root, 'dev/cpu/0/cpuid')); // as unopenable as in an unprivileged pod
    const without = await runNodeDoctor({ hostRoot: root, timeoutMs: 1000 });
    assert.match(byCheck(without).epc!.message, /^CPUID_UNREADABLE/);
    assert.match(byCheck(without).epc!.fix ?? '', /--epc-file/);
    const epcFile = join(root, 'epc.json');
    await writeFile(epcFile, JSON.stringify({ format: 'kube-sgx-epc-probe/v1', sysfsEpc: false, cpuid: { device: '/dev/cpu/0/cpuid', sgx: true, sections: [{ base: 0x70200000, bytes: 92 * MiB }] } }));
    const r = await runNodeDoctor({ hostRoot: root, epcFile, timeoutMs: 1000 });
    assert.equal(byCheck(r).epc!.status, 'ok');
    assert.deepEqual(r.epc, { bytes: 92 * MiB, source: 'cpuid' });
    const missing = await runNodeDoctor({ hostRoot: root, epcFile: join(root, 'none.json'), timeoutMs: 1000 });
    assert.match(byCheck(missing).epc!.message, /^EPC_FILE_UNREADABLE/);
  });

  test('a broken node: each problem is an error with a fix line; the CLI exits 1', async () => {
    const root = await dir();
    // No driver, no libraries, an aesmd "socket" that is a regular file, no QCNL config.
    await makeFakeHost(root, { aesmd: true });
    const r = await runNodeDoctor({ hostRoot: root, timeoutMs: 1000 });
    const c = byCheck(r);
    assert.equal(r.ok, false);
    for (const id of ['driver', 'epc', 'aesmd', 'qpl.dcap_ql', 'qpl.quoteprov', 'qcnl.config']) {
      assert.equal(c[id]?.status, 'error', id);
      assert.ok(c[id]!.fix && c[id]!.fix.length > 10, `${id} has a fix line`);
    }
    assert.match(c.aesmd!.message, /not a socket/);
    assert.match(c['qpl.dcap_ql']!.message, /libsgx_dcap_ql\.so\.1 not found in .*\/usr\/lib\/x86_64-linux-gnu/);
    assert.match(c['qpl.quoteprov']!.fix!, /libsgx-dcap-default-qpl .* az-dcap-client/);
    assert.match(c['qcnl.config']!.message, /cannot read .*etc\/sgx_default_qcnl\.conf/);
    assert.equal(c.provision, undefined, 'no provision check without a driver');

    const cli = await runCli(['doctor', '--node', '--host-root', root, '--json', '--timeout', '1000']);
    assert.equal(cli.status, 1, cli.stdout + cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as NodeDoctorReport).ok, false);
  });

  test('no aesmd listening on a socket file: the socket is stale', async () => {
    const root = await sgxHost(await dir(), { qpl: AZURE_QPL });
    const gone = join(root, 'var/run/aesmd/aesm.socket');
    // A socket file whose server is gone: bind in a child process, which is then killed (the file stays).
    await mkdir(join(root, 'var/run/aesmd'), { recursive: true });
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(gone)}, () => { console.log('up'); })`], { stdio: ['ignore', 'pipe', 'inherit'] });
      child.stdout.once('data', () => {
        child.kill('SIGKILL');
        child.once('exit', () => resolve());
      });
      child.once('error', reject);
    });
    const c = byCheck(await runNodeDoctor({ hostRoot: root, timeoutMs: 1000 }));
    assert.equal(c.aesmd!.status, 'error');
    assert.match(c.aesmd!.message, /does not answer/);
    assert.match(c.aesmd!.fix!, /stale socket/);
    // The Azure DCAP client's quote provider does not read the QCNL config: not required.
    assert.equal(c['qcnl.config']!.status, 'ok');
    assert.match(c['qcnl.config']!.message, /not used/);
    assert.equal(c.pccs, undefined);
  });

  test('QCNL config problems: invalid JSON with its position, wrong types, a symlinked file', async () => {
    const bad = await sgxHost(await dir(), { qpl: INTEL_QPL, qcnl: '{\n  "pccs_url": "https://pccs.example/sgx/certification/v4/",\n  "use_secure_cert": true,\n}\n' });
    const c = byCheck(await runNodeDoctor({ hostRoot: bad, timeoutMs: 1000 }));
    assert.equal(c['qcnl.config']!.status, 'error');
    assert.match(c['qcnl.config']!.message, /not valid JSON at line 4, column 1/);
    assert.match(c['qcnl.config']!.message, new RegExp(`uses ${QCNL_DEFAULT_PCCS_URL.replace(/[./]/g, '\\$&')}`));

    const root = await sgxHost(await dir(), { qpl: INTEL_QPL });
    await writeFile(join(root, 'qcnl-real.conf'), `{"pccs_url": "${pccs.url}/sgx/certification/v4/", "use_secure_cert": "false"}`);
    await mkdir(join(root, 'etc'), { recursive: true });
    await symlink(join(root, 'qcnl-real.conf'), join(root, 'etc/sgx_default_qcnl.conf'));
    const d = byCheck(await runNodeDoctor({ hostRoot: root, timeoutMs: 1000 }));
    assert.equal(d['qcnl.config']!.status, 'error');
    assert.match(d['qcnl.config']!.message, /use_secure_cert must be a JSON boolean, got string "false": QCNL ignores it/);
    assert.match(d['qcnl.config']!.message, /symbolic link: recent Intel QCNL opens it with O_NOFOLLOW/);
    // use_secure_cert stays true (the wrong-typed value is ignored), which over plain http changes nothing: still reachable.
    assert.equal(d.pccs!.status, 'ok');
  });

  test('PCCS reachability: refused is an error, an HTTP error status is a warning (reachable)', async () => {
    const refused = await sgxHost(await dir(), { qpl: INTEL_QPL, qcnl: intelStyleQcnl('http://127.0.0.1:9/sgx/certification/v4/') });
    const a = byCheck(await runNodeDoctor({ hostRoot: refused, timeoutMs: 1000 }));
    assert.equal(a.pccs!.status, 'error');
    assert.match(a.pccs!.message, /GET http:\/\/127\.0\.0\.1:9\/sgx\/certification\/v4\/qe\/identity/);
    assert.match(a.pccs!.fix!, /egress NetworkPolicy/);

    const wrong = await sgxHost(await dir(), { qpl: INTEL_QPL, qcnl: `{"pccs_url": "${notPccsUrl}", "collateral_service": "${pccs.url}/sgx/certification/v4/"}` });
    const b = byCheck(await runNodeDoctor({ hostRoot: wrong, timeoutMs: 1000 }));
    assert.equal(b.pccs!.status, 'warning');
    assert.match(b.pccs!.message, /HTTP 404.*reachable/);
    assert.equal(b['collateral-service']!.status, 'ok', 'collateral_service is checked on its own');
  });

  test('a trust domain is checked for its TDX guest device, not for SGX', async () => {
    const td = await dir();
    await makeFakeHost(td, { flags: ['fpu', 'tdx_guest'], devices: ['dev/tdx_guest'] });
    const r = await runNodeDoctor({ hostRoot: td, timeoutMs: 1000 });
    assert.deepEqual(r.checks.map((c) => [c.check, c.status]), [['tdx', 'ok']]);
    assert.equal(r.ok, true);
    const noDevice = await dir();
    await makeFakeHost(noDevice, { flags: ['fpu', 'tdx_guest'] });
    const n = await runNodeDoctor({ hostRoot: noDevice, timeoutMs: 1000 });
    assert.equal(n.ok, false);
    assert.match(n.checks[0]!.fix!, /tdx_guest driver/);
  });

  test('a missing host root cannot be checked: exit 3', async () => {
    const r = await runCli(['doctor', '--node', '--host-root', '/nonexistent-kube-sgx-root']);
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.equal((JSON.parse(r.stdout) as { error: { code: string } }).error.code, 'HOST_ROOT_MISSING');
    const u = await runCli(['doctor', '--node', '--kubeconfig', '/x']);
    assert.equal(u.status, 2, 'cluster flags with --node are a usage error');
  });
});

describe('parseQcnlConfig', () => {
  test('comments are removed outside strings only; an unterminated comment is an error', () => {
    const c = parseQcnlConfig('{"pccs_url": "http://x//y/", /* c */ "retry_times": 1} // end');
    assert.equal(c.pccsUrl, 'http://x//y/');
    assert.deepEqual(c.problems, []);
    assert.match(parseQcnlConfig('{"pccs_url": "https://x/" /* open').problems[0]!.message, /not valid JSON.*unterminated/);
  });

  test('Intel-style JSON with comments and leading commas', () => {
    const c = parseQcnlConfig(intelStyleQcnl('https://pccs.example:8081/sgx/certification/v4/', true));
    assert.equal(c.format, 'json');
    assert.equal(c.pccsUrl, 'https://pccs.example:8081/sgx/certification/v4/');
    assert.equal(c.useSecureCert, true);
    assert.equal(c.collateralServiceUrl, c.pccsUrl);
    assert.deepEqual(c.problems, []);
  });

  test('an Azure-style config: THIM for PCK certificates, Intel PCS for collateral, custom request options', () => {
    const c = parseQcnlConfig(
      JSON.stringify({
        pccs_url: 'https://global.acccache.azure.net/sgx/certification/v4/',
        use_secure_cert: true,
        collateral_service: 'https://api.trustedservices.intel.com/sgx/certification/v4/',
        pccs_api_version: '3.1',
        retry_times: 6,
        retry_delay: 5,
        local_pck_url: 'http://169.254.169.254/metadata/THIM/sgx/certification/v4/',
        pck_cache_expire_hours: 48,
        verify_collateral_cache_expire_hours: 48,
        custom_request_options: { get_cert: { headers: { metadata: 'true' }, params: { 'api-version': '2021-07-22-preview' } } },
      }),
    );
    assert.deepEqual(c.problems, []);
    assert.equal(c.collateralServiceUrl, 'https://api.trustedservices.intel.com/sgx/certification/v4/');
  });

  test('what QCNL silently gets wrong is reported', () => {
    const c = parseQcnlConfig('{"PCCS_URL": "https://x/", "retry_times": 1.5, "tcb_update_type": "late", "collateral_service": "ftp://x/", "local_cache_only": true}');
    const msgs = c.problems.map((p) => `${p.severity}: ${p.message}`);
    assert.ok(msgs.some((m) => /^warning: unknown key "PCCS_URL" .*case sensitive: pccs_url/.test(m)), msgs.join('\n'));
    assert.ok(msgs.some((m) => /^warning: retry_times must be a JSON integer/.test(m)));
    assert.ok(msgs.some((m) => /^error: tcb_update_type must be early or standard/.test(m)));
    assert.ok(msgs.some((m) => /^error: collateral_service is not an http\(s\) URL/.test(m)));
    assert.ok(msgs.some((m) => /^warning: no pccs_url: QCNL uses its default/.test(m)));
    assert.equal(c.pccsUrl, QCNL_DEFAULT_PCCS_URL);
    assert.equal(c.localCacheOnly, true);
  });

  test('the legacy KEY=VALUE format', () => {
    const c = parseQcnlConfig('# PCCS server address\nPCCS_URL = https://pccs.example:8081/sgx/certification/v3/\nUSE_SECURE_CERT=FALSE\nPCS_URL=https://old/\n');
    assert.equal(c.format, 'legacy');
    assert.equal(c.pccsUrl, 'https://pccs.example:8081/sgx/certification/v3/');
    assert.equal(c.useSecureCert, false);
    assert.deepEqual(c.problems.map((p) => p.severity), ['warning'], 'PCS_URL is not a QCNL setting');
  });

  test('text that does not start with { is read as the legacy format, as QCNL does; an empty file', () => {
    assert.match(parseQcnlConfig('[1]').problems[0]?.message ?? '', /unknown setting "\[1\]"/);
    const empty = parseQcnlConfig('');
    assert.equal(empty.format, 'legacy');
    assert.match(empty.problems[0]!.message, /no PCCS_URL/);
  });
});
