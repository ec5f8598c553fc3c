/**
 * Bad addresses and URLs on the command line, across commands: a malformed
 * HOST:PORT or URL is a usage error (exit 2) naming the flag; a port in use
 * is LISTEN_FAILED naming the flag and the address (exit 1), and the process
 * exits instead of hanging with half its servers up. And the installed entry
 * point without a build says to build.
 */
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server, type AddressInfo } from 'node:net';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliError, runCli, REPO_ROOT as repo } from './run.js';

const QUOTE = '/work/shared/testdata/dcap/intel-qvl-sampledata/sampleData/quote.dat';


let dir: string;
let busy: Server;
let busyAddr: string;
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ksgx-flags-'));
  busy = createServer();
  await new Promise<void>((r) => busy.listen(0, '127.0.0.1', () => r()));
  busyAddr = `127.0.0.1:${(busy.address() as AddressInfo).port}`;
  const certs = await runCli(['webhook', 'certs', '--out', join(dir, 'tls'), '--dns-name', 'x.example']);
  assert.equal(certs.status, 0, certs.stdout + certs.stderr);
});
after(() => {
  busy.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('address and URL flags', () => {
  test('malformed HOST:PORT and URLs are usage errors naming the flag, before anything starts', async () => {
    const tls = ['--tls-cert', join(dir, 'tls/tls.crt'), '--tls-key', join(dir, 'tls/tls.key')];
    const cases: Array<[string[], string, RegExp]> = [
      [['webhook', ...tls, '--listen', 'nonsense'], '--listen', /expected HOST:PORT, got "nonsense"/],
      [['webhook', ...tls, '--listen', '127.0.0.1:0', '--metrics-addr', '127.0.0.1:99999'], '--metrics-addr', /HOST:PORT/],
      [['node-agent', '--no-node-update', '--host-root', dir, '--kubelet-dir', join(dir, 'k'), '--metrics-addr', 'localhost'], '--metrics-addr', /HOST:PORT/],
      [['quote-helper', '--backend', 'dcap', '--socket', join(dir, 'a.sock'), '--metrics-addr', ':x'], '--metrics-addr', /HOST:PORT/],
      [['attestation-service', '--listen', 'nonsense', '--data-dir', join(dir, 'd')], '--listen', /HOST:PORT/],
      [['attestation-service', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'd'), '--pccs', 'pccs.example:8081'], '--pccs', /expected an http\(s\) URL/],
      [['attestation-service', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'd'), '--issuer', 'not a url'], '--issuer', /expected an http\(s\) URL/],
      [['collateral', 'fetch', QUOTE, '--out', join(dir, 'c.json'), '--thim', 'ftp://x'], '--thim', /expected an http\(s\) URL/],
      [['sim', 'pccs', '--platform', join(dir, 'p'), '--listen', '8081'], '--listen', /HOST:PORT/],
      [['qgs', '--backend', 'sim', '--platform', join(dir, 'p'), '--socket', join(dir, 'q.sock'), '--metrics-addr', 'nonsense'], '--metrics-addr', /HOST:PORT/],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      const [args, flag, message] = cases[i]!;
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      const err = cliError(r.stdout)!;
      assert.equal(err.code, 'USAGE', args.join(' '));
      assert.ok(err.message.startsWith(`${flag}:`), `${args.join(' ')}: ${err.message}`);
      assert.match(err.message, message);
    });
  });

  test('a port in use is LISTEN_FAILED naming the flag and address, and the process exits', async () => {
    const tls = ['--tls-cert', join(dir, 'tls/tls.crt'), '--tls-key', join(dir, 'tls/tls.key')];
    const cases: Array<[string[], string]> = [
      [['webhook', ...tls, '--listen', busyAddr], '--listen'],
      // The HTTPS server is already up when the metrics port fails: it must be closed, or the process never exits.
      [['webhook', ...tls, '--listen', '127.0.0.1:0', '--metrics-addr', busyAddr], '--metrics-addr'],
      [['attestation-service', '--listen', busyAddr, '--data-dir', join(dir, 'd2')], '--listen'],
      [['node-agent', '--no-node-update', '--host-root', dir, '--kubelet-dir', join(dir, 'k2'), '--metrics-addr', busyAddr], '--metrics-addr'],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      const [args, flag] = cases[i]!;
      assert.equal(r.status, 1, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      const err = cliError(r.stdout)!;
      assert.notEqual(err.code, 'INTERNAL');
      assert.ok(err.message.includes(`${flag} ${busyAddr}: address already in use`), `${args.join(' ')}: ${err.message}`);
    });
  });
});

describe('bin/kube-sgx.js', () => {
  test('without dist/ (a fresh clone after npm ci) prints one line saying to build, no stack trace', async () => {
    const clone = join(dir, 'clone');
    cpSync(join(repo, 'bin'), join(clone, 'bin'), { recursive: true });
    cpSync(join(repo, 'package.json'), join(clone, 'package.json'));
    const r = await new Promise<{ status: number | null; stderr: string }>((resolve) => {
      const child = spawn(process.execPath, [join(clone, 'bin/kube-sgx.js'), '--help'], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (status) => resolve({ status, stderr }));
    });
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /not built .*npm run build/);
    assert.doesNotMatch(r.stderr, /ERR_MODULE_NOT_FOUND|\n\s+at /);
  });
});
