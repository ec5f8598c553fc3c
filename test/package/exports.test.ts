/**
 * The package surface as an installed user sees it: `npm run build`'s output
 * under node_modules/kube-sgx, imported by name through package.json
 * "exports" in a fresh process. The root and `kube-sgx/dcap` must stay light:
 * no Kubernetes client, and heap after import (and two GCs) within budget.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
const MIB = 1024 * 1024;

interface Probe {
  heapUsed: number;
  /** Loaded module URLs and require.cache entries that belong to @kubernetes/client-node. */
  kubernetes: string[];
  exports: string[];
}

/** Records every resolved module URL (ESM) in the main thread through a MessagePort. */
const HOOKS = `
let port;
export function initialize(data) { port = data.port; }
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  port.postMessage(r.url);
  return r;
}
`;

const PROBE = `
import { register, createRequire } from 'node:module';
import { MessageChannel } from 'node:worker_threads';
const { port1, port2 } = new MessageChannel();
const urls = [];
let sawMarker;
const marker = new Promise((r) => (sawMarker = r));
port1.on('message', (u) => { if (u === 'node:path') sawMarker(); else urls.push(u); });
register('./hooks.mjs', import.meta.url, { data: { port: port2 }, transferList: [port2] });
const mod = await import(process.argv[2]);
await import('node:path');
await marker;
port1.close();
globalThis.gc();
globalThis.gc();
const heapUsed = process.memoryUsage().heapUsed;
const cjs = Object.keys(createRequire(import.meta.url).cache);
const kubernetes = [...urls, ...cjs].filter((u) => u.includes('@kubernetes/client-node'));
console.log(JSON.stringify({ heapUsed, kubernetes, exports: Object.keys(mod) }));
`;

let dir: string;
let pkg: { exports: Record<string, unknown> };

async function probe(specifier: string): Promise<Probe> {
  const { stdout } = await run(process.execPath, ['--expose-gc', 'probe.mjs', specifier], { cwd: dir });
  return JSON.parse(stdout) as Probe;
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'kube-sgx-package-'));
  const installed = join(dir, 'node_modules', 'kube-sgx');
  mkdirSync(installed, { recursive: true });
  copyFileSync(join(ROOT, 'package.json'), join(installed, 'package.json'));
  symlinkSync(join(ROOT, 'node_modules'), join(installed, 'node_modules'), 'dir');
  // What `npm run build` emits (tsconfig.build.json), written straight into the installed package.
  await run(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json'), '--outDir', join(installed, 'dist'), '--sourceMap', 'false'], { cwd: ROOT });
  writeFileSync(join(dir, 'hooks.mjs'), HOOKS);
  writeFileSync(join(dir, 'probe.mjs'), PROBE);
  pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as typeof pkg;
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('package exports', () => {
  test('kube-sgx/dcap loads no Kubernetes client and stays under 15 MB of heap', async (t) => {
    const p = await probe('kube-sgx/dcap');
    t.diagnostic(`kube-sgx/dcap: ${(p.heapUsed / MIB).toFixed(1)} MB heap used after import and GC`);
    assert.deepEqual(p.kubernetes, []);
    assert.ok(p.heapUsed < 15 * MIB, `heap after import: ${(p.heapUsed / MIB).toFixed(1)} MB`);
    assert.ok(p.exports.includes('verifyQuote'));
  });

  test('the root loads no Kubernetes client and stays under 20 MB of heap', async (t) => {
    const p = await probe('kube-sgx');
    t.diagnostic(`kube-sgx: ${(p.heapUsed / MIB).toFixed(1)} MB heap used after import and GC`);
    assert.deepEqual(p.kubernetes, []);
    assert.ok(p.heapUsed < 20 * MIB, `heap after import: ${(p.heapUsed / MIB).toFixed(1)} MB`);
    for (const name of ['KubeSgxError', 'EPC_RESOURCE', 'parseQuote', 'verifyQuote']) assert.ok(p.exports.includes(name), name);
  });

  test('the probe sees the Kubernetes client where a component does load it', async () => {
    const p = await probe('kube-sgx/node');
    assert.ok(p.kubernetes.length > 0, 'kube-sgx/node patches Node objects with @kubernetes/client-node');
  });

  test('every subpath in package.json resolves to built code with exports and declarations', async () => {
    const subpaths = Object.keys(pkg.exports).filter((k) => k !== './package.json');
    assert.ok(subpaths.length >= 10);
    for (const sub of subpaths) {
      const target = pkg.exports[sub] as { types: string; default: string };
      assert.ok(readFileSync(join(dir, 'node_modules', 'kube-sgx', target.types), 'utf8').length > 0, `${sub}: ${target.types}`);
    }
    const specifiers = subpaths.map((s) => (s === '.' ? 'kube-sgx' : `kube-sgx/${s.slice(2)}`));
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', `for (const s of ${JSON.stringify(specifiers)}) { const m = await import(s); if (Object.keys(m).length === 0) throw new Error(s + ' exports nothing'); } console.log('ok');`], { cwd: dir });
    assert.equal(stdout.trim(), 'ok');
  });
});
