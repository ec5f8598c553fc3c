/**
 * Memory and CPU of each component as its container runs it, to size the
 * manifests' resource requests and limits (docs/deploy.md, "Resources").
 *
 *   npm run build && node --import tsx bench/footprint.ts
 *
 * Each component runs as the compiled CLI (node dist/src/cli/main.js, the
 * image's entrypoint) in its own process, against local stand-ins for what
 * the cluster gives it: a fake API server on 127.0.0.1 (Nodes, Secrets), the
 * kubelet stand-in, a fake host tree, a simulated platform. It is measured
 * idle after start and after a burst of work; RSS and peak RSS (VmHWM) come
 * from /proc/<pid>/status, CPU from /proc/<pid>/stat. Not part of `npm run
 * bench` (it measures size, not speed).
 */
import 'reflect-metadata';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { KubeletStandIn } from '../src/demo/kubelet-stand-in.js';
import { SimPlatform } from '../src/sim/index.js';
import { AesmClient } from '../src/quotehelper/client.js';
import { httpCall } from '../src/service/client.js';
import { generateWebhookCertificates } from '../src/webhook/certs.js';
import { makeFakeHost } from '../test/node/fake-host.js';

const CLI = join(import.meta.dirname, '..', 'dist', 'src', 'cli', 'main.js');
const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-footprint-'));
const MiB = 1024 * 1024;
const CLK_TCK = 100;

interface Sample {
  rssMiB: number;
  hwmMiB: number;
  cpuSeconds: number;
}

function sample(pid: number): Sample {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024, cpuSeconds: (Number(stat[11]) + Number(stat[12])) / CLK_TCK };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A fake API server: Nodes (get, list, watch held open, patch) and Secrets (CRUD with label selectors). */
function startFakeApi(nodeName: string): Promise<{ url: string; close: () => void }> {
  const node = { apiVersion: 'v1', kind: 'Node', metadata: { name: nodeName, resourceVersion: '1', labels: { 'sgx.intel.com/capable': 'true' } }, status: { capacity: { 'sgx.intel.com/epc': '64Mi' }, allocatable: { 'sgx.intel.com/epc': '64Mi' } } };
  const secrets = new Map<string, Record<string, unknown>>();
  let rv = 1;
  const json = (res: ServerResponse, code: number, body: unknown) => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const u = new URL(req.url ?? '/', 'http://x');
      if (u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1') {
        res.writeHead(200, { 'content-type': 'application/json' });
        return; // held open, as a quiet watch is
      }
      if (u.pathname === '/api/v1/nodes') return json(res, 200, { kind: 'NodeList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items: [node] });
      if (u.pathname.startsWith(`/api/v1/nodes/${nodeName}`)) return json(res, 200, node);
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets(?:\/([^/]+))?$/.exec(u.pathname);
      if (m) {
        const [, ns, name] = m;
        if (req.method === 'POST') {
          const s = JSON.parse(body) as { metadata: { name: string } };
          if (secrets.has(`${ns}/${s.metadata.name}`)) return json(res, 409, { kind: 'Status', code: 409, reason: 'AlreadyExists' });
          const stored = { ...s, metadata: { ...s.metadata, namespace: ns, resourceVersion: String(++rv) } };
          secrets.set(`${ns}/${s.metadata.name}`, stored);
          return json(res, 201, stored);
        }
        if (req.method === 'GET' && name === undefined) {
          const want = (u.searchParams.get('labelSelector') ?? '').split(',').filter(Boolean).map((kv) => kv.split('='));
          const items = [...secrets.entries()].filter(([k]) => k.startsWith(`${ns}/`)).map(([, v]) => v).filter((s) => want.every(([k, v]) => ((s.metadata as { labels?: Record<string, string> }).labels ?? {})[k!] === v));
          return json(res, 200, { kind: 'SecretList', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
        }
        const key = `${ns}/${name}`;
        if (req.method === 'GET') return secrets.has(key) ? json(res, 200, secrets.get(key)) : json(res, 404, { kind: 'Status', code: 404, reason: 'NotFound' });
        if (req.method === 'PUT') {
          const s = JSON.parse(body) as { metadata: Record<string, unknown> };
          const stored = { ...s, metadata: { ...s.metadata, resourceVersion: String(++rv) } };
          secrets.set(key, stored);
          return json(res, 200, stored);
        }
        if (req.method === 'DELETE') {
          secrets.delete(key);
          return json(res, 200, { kind: 'Status', code: 200 });
        }
      }
      json(res, 404, { kind: 'Status', code: 404 });
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const addr = server.address() as { port: number };
    resolve({ url: `http://127.0.0.1:${addr.port}`, close: () => server.closeAllConnections() });
  }));
}

function kubeconfig(server: string): string {
  const file = join(tmp, 'kubeconfig');
  writeFileSync(file, `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: "${server}", insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: footprint } }]
contexts: [{ name: x, context: { cluster: c, user: u } }]
current-context: x
`);
  return file;
}

/** Starts the compiled CLI; resolves once `ready` says so, with what it printed. */
async function startCli(args: string[], ready: (out: string) => boolean, env: Record<string, string> = {}): Promise<{ child: ChildProcess; out: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info', NODE_ENV: 'production', ...env } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const t0 = Date.now();
  while (!ready(out)) {
    if (child.exitCode !== null) throw new Error(`${args[0]} exited: ${out}`);
    if (Date.now() - t0 > 120_000) {
      child.kill('SIGKILL');
      throw new Error(`${args[0]} did not start: ${out}`);
    }
    await sleep(100);
  }
  return { child, out };
}

interface Row {
  /** The container this measures: its manifest's name. */
  container: string;
  component: string;
  work: string;
  idle: Sample;
  loaded: Sample;
}

async function measure(container: string, component: string, child: ChildProcess, work: string, load: () => Promise<void>): Promise<Row> {
  await sleep(3000); // settle after start
  const idle = sample(child.pid!);
  await load();
  await sleep(1000);
  const loaded = sample(child.pid!);
  child.kill('SIGTERM');
  await new Promise((r) => child.once('exit', r));
  const row = { container, component, work, idle, loaded };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

/** Runs a CLI command that exits by itself; its peak RSS and CPU from getrusage at exit. */
async function probeOnce(container: string, component: string, work: string, args: string[]): Promise<Row> {
  const preload = 'data:text/javascript,import{writeSync}from"node:fs";process.on("exit",()=>writeSync(2,"RUSAGE"+JSON.stringify(process.resourceUsage())+"\\n"))';
  const child = spawn(process.execPath, ['--import', preload, CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_ENV: 'production' } });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  const usage = /RUSAGE(\{.*\})/.exec(out);
  if (code !== 0 || !usage) throw new Error(`${args.join(' ')} exited ${code}: ${out}`);
  const u = JSON.parse(usage[1]!) as { maxRSS: number; userCPUTime: number; systemCPUTime: number };
  const peak: Sample = { rssMiB: u.maxRSS / 1024, hwmMiB: u.maxRSS / 1024, cpuSeconds: (u.userCPUTime + u.systemCPUTime) / 1e6 };
  const row = { container, component, work, idle: peak, loaded: peak };
  process.stderr.write(`${JSON.stringify(row)}\n`);
  return row;
}

const rows: Row[] = [];
const api = await startFakeApi('node-1');
const kc = kubeconfig(api.url);
try {
  // ---- node agent: fake host with 64 MiB EPC, kubelet stand-in, Node patched through the API
  {
    const host = await makeFakeHost(join(tmp, 'host'), { epc: { 0: 64 * MiB }, devices: ['dev/sgx_enclave', 'dev/sgx_provision'] });
    const kubeletDir = join(tmp, 'kubelet');
    const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
    const { child } = await startCli(['node-agent', '--host-root', host, '--kubelet-dir', kubeletDir, '--node-name', 'node-1', '--kubeconfig', kc, '--metrics-addr', '127.0.0.1:0'], () => kubelet.resource('sgx.intel.com/enclave') !== undefined);
    // The init container that reads EPC from CPUID: it runs once and exits, so its peak comes from
    // getrusage(2) at exit (a preload prints process.resourceUsage()), not from /proc while it runs.
    rows.push(await probeOnce('kube-sgx-node-agent/probe-epc', 'node agent EPC probe (init container)', 'one probe: CPUID leaf 0x12 through /dev/cpu/0/cpuid (this host has no SGX: no EPC sections)', ['node-agent', 'probe-epc', '--host-root=/', `--out=${join(tmp, 'epc.json')}`]));
    rows.push(await measure('kube-sgx-node-agent/node-agent', 'node agent', child, '60 s of discovery and ListAndWatch at the default 5 s interval', async () => { await sleep(60_000); }));
    await kubelet.stop();
  }

  // ---- quote helper, sim backend
  const platformDir = join(tmp, 'platform');
  const platform = await SimPlatform.open(platformDir, { seed: 'footprint' });
  {
    const socket = join(tmp, 'aesm.socket');
    const { child } = await startCli(['quote-helper', '--backend', 'sim', '--platform', platformDir, '--socket', socket, '--metrics-addr', '127.0.0.1:0'], () => existsSync(socket));
    const client = new AesmClient({ socketPath: socket, timeoutMs: 15_000 });
    rows.push(await measure('kube-sgx-quote-helper/quote-helper', 'quote helper (sim backend)', child, '500 quotes, 4 at a time', async () => {
      const ti = (await client.initQuoteEx()).targetInfo;
      const report = platform.ereport({ targetInfo: ti, reportData: new Uint8Array(64), mrEnclave: Buffer.alloc(32, 1), mrSigner: Buffer.alloc(32, 2), isvProdId: 1, isvSvn: 1 });
      for (let i = 0; i < 125; i++) await Promise.all([0, 1, 2, 3].map(() => client.getQuote(Buffer.from(report))));
    }));
  }

  // ---- webhook, maxEpcPerNode from Nodes through the API, HTTPS
  {
    const bundle = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    writeFileSync(join(tmp, 'tls.crt'), bundle.certPem);
    writeFileSync(join(tmp, 'tls.key'), bundle.keyPem);
    writeFileSync(join(tmp, 'webhook.yaml'), 'epcResourceNames: [sgx.intel.com/epc]\nnodeLabel: { key: sgx.intel.com/capable, value: "true" }\ntaints:\n  - { key: sgx.intel.com/epc, effect: NoSchedule }\nmaxEpcPerNode: fromNodes\nnamespace: kube-sgx\nskipNamespaces: [kube-system]\n');
    const { child, out } = await startCli(['webhook', '--listen', '127.0.0.1:0', '--tls-cert', join(tmp, 'tls.crt'), '--tls-key', join(tmp, 'tls.key'), '--config', join(tmp, 'webhook.yaml'), '--kubeconfig', kc], (o) => /"url":"https/.test(o));
    const url = /"url":"(https:[^"]+)"/.exec(out)![1]!;
    // Small reviews, then large ones, which the webhook hands to its review worker (>= 64 KiB): a Pod of
    // ~3 MiB (the API server's request limit; the review may hold it twice on UPDATE) and the 16 MiB the
    // webhook accepts at most. The peak of both is what the memory limit must hold.
    const reviewOf = (env: { name: string; value: string }[]) =>
      JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', request: { uid: 'u', kind: { group: '', version: 'v1', kind: 'Pod' }, resource: { group: '', version: 'v1', resource: 'pods' }, namespace: 'default', operation: 'CREATE', object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'default' }, spec: { containers: [{ name: 'c', image: 'x', env, resources: { limits: { 'sgx.intel.com/epc': '10Mi' } } }] } } } });
    const envOfSize = (bytes: number) => Array.from({ length: Math.ceil(bytes / 64) }, (_, i) => ({ name: `VAR_${i}`, value: 'v'.repeat(40) }));
    const post = (review: string) => httpCall('POST', `${url}/mutate`, review, { ca: bundle.caCertPem, headers: { 'content-type': 'application/json' } });
    rows.push(await measure('kube-sgx-webhook/webhook', 'webhook', child, '2,000 small AdmissionReviews (/mutate), 8 at a time; then 40 of 3 MiB, 4 at a time, and 6 of 15 MiB, 2 at a time (review worker)', async () => {
      const small = reviewOf([]);
      for (let i = 0; i < 250; i++) await Promise.all([...Array(8)].map(() => post(small)));
      const large = reviewOf(envOfSize(3 * MiB));
      for (let i = 0; i < 10; i++) await Promise.all([...Array(4)].map(() => post(large)));
      const largest = reviewOf(envOfSize(15 * MiB));
      for (let i = 0; i < 3; i++) await Promise.all([...Array(2)].map(() => post(largest)));
    }));
  }

  // ---- attestation service: simulation, --store kubernetes through the API, HTTPS
  {
    const bundle = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    writeFileSync(join(tmp, 'svc.crt'), bundle.certPem);
    writeFileSync(join(tmp, 'svc.key'), bundle.keyPem);
    writeFileSync(join(tmp, 'kek'), randomBytes(32).toString('base64'));
    writeFileSync(join(tmp, 'admin-token'), randomBytes(32).toString('hex'));
    const { child, out } = await startCli(
      ['attestation-service', '--listen', '127.0.0.1:0', '--tls-cert', join(tmp, 'svc.crt'), '--tls-key', join(tmp, 'svc.key'), '--store', 'kubernetes', '--namespace', 'kube-sgx-attestation', '--simulation', '--platform', platformDir, '--kek-file', join(tmp, 'kek'), '--admin-token-file', join(tmp, 'admin-token'), '--issuer', 'https://kube-sgx-attestation.kube-sgx.svc', '--rate-limit', '0'],
      (o) => /"url":\s*"https/.test(o),
      { KUBECONFIG: kc },
    );
    const url = /"url":\s*"(https:[^"]+)"/.exec(out)![1]!;
    const report = platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: new Uint8Array(64), mrEnclave: Buffer.alloc(32, 1), mrSigner: Buffer.alloc(32, 2), isvProdId: 1, isvSvn: 1 });
    const quote = Buffer.from(platform.getQuote(report).quote).toString('base64url');
    rows.push(await measure('kube-sgx-attestation/attestation-service', 'attestation service (simulation, Kubernetes store)', child, '1,000 attestations (/attest/SgxEnclave), 8 at a time', async () => {
      const body = JSON.stringify({ quote });
      for (let i = 0; i < 125; i++) {
        const r = await Promise.all([...Array(8)].map(() => httpCall('POST', `${url}/attest/SgxEnclave?api-version=2022-08-01`, body, { ca: bundle.caCertPem, headers: { 'content-type': 'application/json' } })));
        if (r.some((x) => x.status !== 200)) throw new Error(`attest: ${r.find((x) => x.status !== 200)!.status} ${r.find((x) => x.status !== 200)!.body}`);
      }
    }));
  }
} finally {
  api.close();
  rmSync(tmp, { recursive: true, force: true });
}

// test/deploy/manifests.test.ts holds the manifests' requests and limits to these numbers.
writeFileSync(join(import.meta.dirname, 'results', 'footprint.json'), JSON.stringify({ measuredAt: new Date().toISOString(), node: process.version, cpus: cpus().length, rows }, null, 2) + '\n');
const f = (n: number) => n.toFixed(1);
process.stdout.write(`| component | work | RSS idle (MiB) | RSS after work (MiB) | peak RSS (MiB) | CPU for the work (s) |\n|---|---|---|---|---|---|\n`);
for (const r of rows) process.stdout.write(`| ${r.component} | ${r.work} | ${f(r.idle.rssMiB)} | ${f(r.loaded.rssMiB)} | ${f(r.loaded.hwmMiB)} | ${f(r.loaded.cpuSeconds - r.idle.cpuSeconds)} |\n`);
