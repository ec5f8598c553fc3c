/**
 * Admission webhook throughput and latency.
 *
 * 1. In-process: AdmissionReview JSON text in → response JSON text out
 *    (parse, mutate or validate, serialise), over a mix of pod shapes.
 *    Competitor, same inputs, same run: the common "clone and diff" webhook
 *    pattern — deep-copy the pod, edit the copy, then derive the JSON Patch
 *    with fast-json-patch's `compare` (what webhooks built on
 *    mutate-then-diff libraries do). Intel's Go webhook cannot run here, so it
 *    is not measured.
 * 2. Over HTTPS on loopback: a client in a second process sends /mutate
 *    reviews at a fixed 1,000 per second (open loop: latency counts from the
 *    scheduled send time, so a stall cannot hide queued requests), beside the
 *    same load on /healthz (TLS + HTTP floor, no admission work); then an
 *    unpaced run for the maximum rate.
 */
import { execFile, spawn } from 'node:child_process';
import { request, Agent } from 'node:https';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { buildPacedClient, jsonRequest, percentile, runPaced } from './loadgen/paced.js';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsonpatch from 'fast-json-patch';
// The modules themselves, not src/webhook/index.js: that also loads doctor and @kubernetes/client-node,
// 30 MB more heap in this process for V8 to look after while it measures.
import { defaultWebhookConfig } from '../src/webhook/config.js';
import { reviewAdmission } from '../src/webhook/review.js';
import { generateWebhookCertificates, writeWebhookCertificates } from '../src/webhook/certs.js';

type Obj = Record<string, unknown>;
const EPC = 'sgx.intel.com/epc';

// ---- inputs -----------------------------------------------------------------

function review(object: Obj, uid: number): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: `00000000-0000-0000-0000-${String(uid).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'apps',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', groups: ['system:serviceaccounts'] },
      object,
      oldObject: null,
      dryRun: false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

function appContainer(name: string, limits: Obj): Obj {
  return {
    name,
    image: 'registry.example/enclave-app:1.4.2',
    ports: [{ containerPort: 8443, protocol: 'TCP' }],
    env: [{ name: 'LOG_LEVEL', value: 'info' }, { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } }],
    resources: { limits: { cpu: '1', memory: '512Mi', ...limits }, requests: { cpu: '500m', memory: '256Mi', ...limits } },
    volumeMounts: [{ name: 'kube-api-access', mountPath: '/var/run/secrets/kubernetes.io/serviceaccount', readOnly: true }],
    terminationMessagePath: '/dev/termination-log',
    imagePullPolicy: 'IfNotPresent',
  };
}

function podOf(containers: Obj[], extra: { annotations?: Record<string, string>; init?: Obj[]; affinity?: Obj } = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'enclave-app-7d4b9c-', namespace: 'apps', labels: { app: 'enclave-app', 'pod-template-hash': '7d4b9c' }, annotations: { 'kubectl.kubernetes.io/restartedAt': '2026-11-01T00:00:00Z', ...extra.annotations }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'enclave-app-7d4b9c', uid: 'b1f0', controller: true }] },
    spec: {
      containers,
      ...(extra.init ? { initContainers: extra.init } : {}),
      volumes: [{ name: 'kube-api-access', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3607 } }] } }],
      restartPolicy: 'Always',
      serviceAccountName: 'default',
      tolerations: [
        { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
        { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      ],
      ...(extra.affinity ? { affinity: extra.affinity } : {}),
    },
  };
}

/** The mix: a plain pod, a simple EPC pod, aesmd + init + user affinity, legacy name + in-process quoting. */
const PODS: Obj[] = [
  podOf([appContainer('web', {})]),
  podOf([appContainer('app', { [EPC]: '64Mi' })]),
  podOf([appContainer('app', { [EPC]: '128Mi' }), appContainer('sidecar', {})], {
    annotations: { 'kube-sgx.io/quote-provider': 'aesmd' },
    init: [appContainer('seal-init', { [EPC]: '16Mi' })],
    affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'topology.kubernetes.io/zone', operator: 'In', values: ['z1', 'z2'] }] }] } } },
  }),
  podOf([appContainer('quoter', { 'kubernetes.azure.com/sgx_epc_mem_in_MiB': '32' })], { annotations: { 'kube-sgx.io/quote-provider': 'quoter' } }),
];
export const BODIES = PODS.map((p, i) => JSON.stringify(review(p, i)));

// ---- competitor: clone, edit, diff ------------------------------------------

/** The same edits as kube-sgx's mutation, done on a deep copy, then diffed. */
function cloneAndDiffReview(body: string): string {
  const rv = JSON.parse(body) as { request: { uid: string; object: Obj } };
  const pod = rv.request.object;
  const copy = structuredClone(pod);
  const spec = copy.spec as Obj;
  const meta = (copy.metadata ??= {}) as Obj;
  const annotations = (meta.annotations ??= {}) as Record<string, string>;
  const provider = annotations['kube-sgx.io/quote-provider'];
  const lists = [...((spec.initContainers as Obj[] | undefined) ?? []), ...(spec.containers as Obj[])];
  let total = 0;
  let any = false;
  for (const c of lists) {
    const res = (c.resources ??= {}) as Obj;
    const limits = (res.limits ??= {}) as Record<string, string>;
    const requests = (res.requests ??= {}) as Record<string, string>;
    const legacy = limits['kubernetes.azure.com/sgx_epc_mem_in_MiB'];
    if (legacy !== undefined) {
      delete limits['kubernetes.azure.com/sgx_epc_mem_in_MiB'];
      delete requests['kubernetes.azure.com/sgx_epc_mem_in_MiB'];
      limits[EPC] = `${legacy}Mi`;
    }
    if (limits[EPC] === undefined) continue;
    any = true;
    total += Number.parseInt(limits[EPC], 10);
    requests[EPC] ??= limits[EPC];
    limits['sgx.intel.com/enclave'] ??= '1';
    requests['sgx.intel.com/enclave'] ??= '1';
    if (provider === c.name) {
      limits['sgx.intel.com/provision'] ??= '1';
      requests['sgx.intel.com/provision'] ??= '1';
    }
    if (provider === 'aesmd') {
      const env = (c.env ??= []) as Obj[];
      if (!env.some((e) => e.name === 'SGX_AESM_ADDR')) env.push({ name: 'SGX_AESM_ADDR', value: '1' });
      const mounts = (c.volumeMounts ??= []) as Obj[];
      if (!mounts.some((m) => m.mountPath === '/var/run/aesmd')) mounts.push({ name: 'aesmd-socket', mountPath: '/var/run/aesmd' });
    }
  }
  let response: Obj = { uid: rv.request.uid, allowed: true };
  if (any) {
    if (provider === 'aesmd') {
      const vols = (spec.volumes ??= []) as Obj[];
      if (!vols.some((v) => v.name === 'aesmd-socket')) vols.push({ name: 'aesmd-socket', hostPath: { path: '/var/run/aesmd', type: 'DirectoryOrCreate' } });
    }
    const tol = (spec.tolerations ??= []) as Obj[];
    for (const key of [EPC, 'sgx.intel.com/enclave']) if (!tol.some((t) => t.key === key)) tol.push({ key, operator: 'Exists', effect: 'NoSchedule' });
    const expr = { key: 'sgx.intel.com/capable', operator: 'In', values: ['true'] };
    const aff = (spec.affinity ??= {}) as Obj;
    const na = (aff.nodeAffinity ??= {}) as Obj;
    const req = (na.requiredDuringSchedulingIgnoredDuringExecution ??= { nodeSelectorTerms: [{ matchExpressions: [] }] }) as { nodeSelectorTerms: Array<{ matchExpressions?: Obj[] }> };
    for (const t of req.nodeSelectorTerms) {
      const ex = (t.matchExpressions ??= []);
      if (!ex.some((e) => e.key === expr.key)) ex.push(expr);
    }
    annotations[EPC] ??= `${total}Mi`;
    const ops = jsonpatch.compare(pod, copy);
    if (ops.length > 0) response = { ...response, patchType: 'JSONPatch', patch: Buffer.from(JSON.stringify(ops)).toString('base64') };
  }
  return JSON.stringify({ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview', response });
}

function kubeSgxReview(body: string, kind: 'mutate' | 'validate'): string {
  return JSON.stringify(reviewAdmission(body, defaultWebhookConfig, kind));
}

function throughput(fn: (body: string) => string, ms: number): { perSec: number; n: number } {
  for (let i = 0; i < 2000; i++) fn(BODIES[i % BODIES.length]!); // warm-up
  let n = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(ms) * 1_000_000n;
  let now = start;
  while (now < end) {
    for (let i = 0; i < 100; i++) fn(BODIES[(n + i) % BODIES.length]!);
    n += 100;
    now = process.hrtime.bigint();
  }
  return { perSec: (n * 1e9) / Number(now - start), n };
}

// ---- HTTPS client (second process) ------------------------------------------

interface ClientResult {
  sent: number;
  ok: number;
  errors: number;
  seconds: number;
  /** Latency from scheduled send time (ms): includes any lag of the client itself. */
  lat: number[];
  /** Latency from the moment the request was issued (ms): the server + loopback alone. */
  service: number[];
}

async function clientMain(): Promise<void> {
  const o = JSON.parse(process.env.KUBE_SGX_BENCH_CLIENT!) as { url: string; caFile: string; path: string; rate: number; seconds: number; concurrency: number };
  const ca = await readFile(o.caFile, 'utf8');
  const u = new URL(o.url);
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency, ca });
  const bodies = BODIES.map((b) => Buffer.from(b));
  const lat: number[] = [];
  const service: number[] = [];
  let ok = 0;
  let errors = 0;
  let sent = 0;
  const one = (i: number): Promise<void> =>
    new Promise((resolve) => {
      const body = bodies[i % bodies.length]!;
      const req = request(
        { hostname: u.hostname, port: u.port, path: o.path, method: o.path === '/healthz' ? 'GET' : 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': o.path === '/healthz' ? 0 : body.length } },
        (res) => {
          res.resume();
          res.on('end', () => {
            if (res.statusCode === 200) ok++;
            else errors++;
            resolve();
          });
        },
      );
      req.on('error', () => {
        errors++;
        resolve();
      });
      req.end(o.path === '/healthz' ? undefined : body);
    });
  const started = performance.now();
  if (o.rate > 0) {
    // Open loop at a fixed rate.
    const total = o.rate * o.seconds;
    const interval = 1000 / o.rate;
    const inflight: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = started + i * interval;
      const wait = due - performance.now();
      if (wait > 1) await new Promise((r) => setTimeout(r, wait));
      sent++;
      const issued = performance.now();
      inflight.push(
        one(i).then(() => {
          const t = performance.now();
          // A request the loop sent up to 1 ms early counts from when it was sent.
          lat.push(t - Math.min(due, issued));
          service.push(t - issued);
        }),
      );
    }
    await Promise.all(inflight);
  } else {
    // Closed loop, `concurrency` workers, as fast as it goes.
    const stopAt = started + o.seconds * 1000;
    await Promise.all(
      Array.from({ length: o.concurrency }, async (_, w) => {
        for (let i = w; performance.now() < stopAt; i += o.concurrency) {
          const t = performance.now();
          sent++;
          await one(i);
          lat.push(performance.now() - t);
          service.push(performance.now() - t);
        }
      }),
    );
  }
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  const res: ClientResult = { sent, ok, errors, seconds, lat, service };
  process.stdout.write(JSON.stringify(res));
}

function runClient(opts: { url: string; caFile: string; path: string; rate: number; seconds: number; concurrency: number }): Promise<ClientResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
      env: { ...process.env, KUBE_SGX_BENCH_CLIENT: JSON.stringify(opts) },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => (code === 0 ? resolve(JSON.parse(out) as ClientResult) : reject(new Error(`bench client exited ${code}`))));
  });
}

// ---- the webhook as deployed, and the C load generator ----------------------

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** The V8 flags deploy/base/webhook.yaml runs the webhook with (its container `command`). */
const DEPLOYED_V8_FLAGS = ['--single-threaded'];

/** The compiled CLI the container image runs (`npm run build`); built afresh so it matches src/. */
const BUILT_CLI = join(ROOT, 'dist/src/cli/main.js');
function buildCli(): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.build.json')], { cwd: ROOT }, (err, out) =>
      err ? reject(new Error(`npm run build failed: ${out || err.message}`)) : resolve(),
    );
  });
}

/**
 * Starts `kube-sgx webhook` in its own process, as deployed (compiled JavaScript, the Deployment's V8
 * flags; not through tsx, whose loader thread and source maps the image does not have), and waits for
 * its "webhook serving" log line.
 */
function spawnWebhook(cert: string, key: string, v8Flags = DEPLOYED_V8_FLAGS): Promise<{ url: string; close(): Promise<void> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...v8Flags, BUILT_CLI, 'webhook', '--listen', '127.0.0.1:0', '--tls-cert', cert, '--tls-key', key], {
      cwd: ROOT,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    let log = '';
    const onLog = (d: Buffer) => {
      log += d.toString();
      const m = /"url":"(https:\/\/[^"]+)"[^\n]*"msg":"webhook serving"/.exec(log);
      if (!m) return;
      child.stderr!.off('data', onLog);
      child.stderr!.resume();
      resolve({ url: m[1]!, close: async () => void (child.kill('SIGTERM'), await exited) });
    };
    child.stderr!.on('data', onLog);
    child.once('exit', (code) => reject(new Error(`kube-sgx webhook exited ${code} before serving: ${log.slice(-500)}`)));
  });
}

/**
 * One paced run of the C client (64 connections, open loop), in the shape of the Node client's results.
 * `warmupSeconds` of the same load go first on the same connections and are not recorded.
 */
async function paced(binary: string, dir: string, port: number, caFile: string, path: string, seconds: number, opts: { spin?: boolean; warmupSeconds?: number } = {}): Promise<ClientResult & { maxInFlight: number }> {
  const requests = path === '/healthz' ? [Buffer.from('GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n')] : BODIES.map((b) => jsonRequest('POST', path, b));
  const r = await runPaced({ binary, dir, port, caFile, serverName: 'localhost', requests, rate: 1000, seconds, spin: opts.spin ?? true, ...(opts.warmupSeconds ? { warmupSeconds: opts.warmupSeconds } : {}) });
  return { sent: r.count, ok: r.count - r.non200, errors: r.non200, seconds: r.seconds, lat: r.fromSchedule, service: r.fromSend, maxInFlight: r.maxInFlight };
}

// ---- the bench --------------------------------------------------------------

const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

/** In-process throughput: kube-sgx mutate and validate against clone-and-diff, interleaved rounds. */
function measureInProcess(): string[] {
  const rows: string[] = [];
  // Sanity: the competitor produces a patch that applies, like kube-sgx's.
  for (const b of BODIES) {
    const mine = JSON.parse(kubeSgxReview(b, 'mutate')) as { response: { patch?: string } };
    const theirs = JSON.parse(cloneAndDiffReview(b)) as { response: { patch?: string } };
    const pod = (JSON.parse(b) as { request: { object: Obj } }).request.object;
    for (const r of [mine, theirs]) {
      if (r.response.patch) jsonpatch.applyPatch(structuredClone(pod), JSON.parse(Buffer.from(r.response.patch, 'base64').toString()) as jsonpatch.Operation[], true, false);
    }
  }

  // Interleaved rounds (A, B, C, A, B, C, …) so load from other processes on
  // this shared machine hits every approach alike; the median round is reported.
  const rounds = 5;
  const runs = { mutate: [] as number[], validate: [] as number[], naive: [] as number[] };
  for (let r = 0; r < rounds; r++) {
    runs.mutate.push(throughput((b) => kubeSgxReview(b, 'mutate'), 1000).perSec);
    runs.validate.push(throughput((b) => kubeSgxReview(b, 'validate'), 1000).perSec);
    runs.naive.push(throughput(cloneAndDiffReview, 1000).perSec);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const mutate = { perSec: median(runs.mutate) };
  const validate = { perSec: median(runs.validate) };
  const naive = { perSec: median(runs.naive) };
  rows.push(`### In-process (one thread; review JSON text in → response JSON text out; median of ${rounds} interleaved 1 s rounds)`, '');
  rows.push('| approach | reviews/s | vs target ≥ 5,000/s |', '|---|---|---|');
  rows.push(`| kube-sgx \`/mutate\` (targeted patch) | ${fmt(mutate.perSec)} | ${mutate.perSec >= 5000 ? 'met' : '**missed**'} |`);
  rows.push(`| kube-sgx \`/validate\` | ${fmt(validate.perSec)} | ${validate.perSec >= 5000 ? 'met' : '**missed**'} |`);
  rows.push(`| competitor: clone + edit + \`fast-json-patch.compare\` | ${fmt(naive.perSec)} | ${naive.perSec >= 5000 ? 'met' : '**missed**'} |`);
  rows.push('', `kube-sgx mutate is ${(mutate.perSec / naive.perSec).toFixed(2)}× the clone-and-diff rate on the same four-pod mix (plain pod; 64Mi EPC pod; aesmd + init container + user affinity; legacy MiB name + in-process quoting), ${BODIES.map((b) => b.length).join(' / ')} bytes per review.`);
  rows.push('The competitor does the same edits but none of kube-sgx\'s checks (no structural validation, no exact quantity parsing: it trusts `parseInt`), so it does less work per review; its cost is the deep copy and the diff.');
  rows.push('Beyond speed, clone-and-diff emits whatever `compare` finds (index-based `replace` ops inside arrays), which is only safe against exactly the object it diffed; kube-sgx emits `add`s at addresses it checked, and its tests apply every patch and re-review the result.', '');
  return rows;
}

/** HTTPS: the webhook as deployed (`kube-sgx webhook`, its own process), warmed up, then loaded at a fixed rate. */
async function measureHttps(): Promise<string[]> {
  const rows: string[] = [];
  const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-bench-'));
  try {
    const certs = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const files = await writeWebhookCertificates(dir, certs);
    await buildCli();
    const server = await spawnWebhook(files.cert!, files.key!);
    try {
      const port = Number(new URL(server.url).port);
      const seconds = 15;
      const warmup = 5;
      const gen = await buildPacedClient(dir);
      let cRows: { warm: ClientResult; runs: Array<ClientResult & { maxInFlight: number }>; floor: ClientResult; fresh: ClientResult; sleeping: ClientResult; multiThreaded: ClientResult } | undefined;
      if ('binary' in gen) {
        const run = (path: string, secs: number, opts: { spin?: boolean; warmupSeconds?: number } = {}, p = port) => paced(gen.binary, dir, p, files.caCert!, path, secs, opts);
        const warm = await run('/mutate', warmup);
        const warmed = { warmupSeconds: warmup };
        const runs = [await run('/mutate', seconds, warmed), await run('/mutate', seconds, warmed), await run('/mutate', seconds, warmed)];
        const floor = await run('/healthz', seconds, warmed);
        const fresh = await run('/mutate', seconds);
        const sleeping = await run('/mutate', seconds, { spin: false, warmupSeconds: warmup });
        // The same webhook with V8's default helper threads, warmed up the same way, for comparison.
        const other = await spawnWebhook(files.cert!, files.key!, []);
        let multiThreaded: ClientResult;
        try {
          const otherPort = Number(new URL(other.url).port);
          await run('/mutate', warmup, {}, otherPort);
          multiThreaded = await run('/mutate', seconds, warmed, otherPort);
        } finally {
          await other.close();
        }
        cRows = { warm, runs, floor, fresh, sleeping, multiThreaded };
      }
      const reason = 'reason' in gen ? gen.reason : '';
      const nodeClient = await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 1000, seconds, concurrency: 32 });
      const max = await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 0, seconds: 8, concurrency: 16 });
      const sequential = await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 0, seconds: 5, concurrency: 1 });
      const line = (name: string, r: ClientResult) => {
        const s = r.lat;
        return `| ${name} | ${fmt(r.ok / r.seconds)} | ${r.errors} | ${percentile(s, 50).toFixed(3)} | ${percentile(s, 99).toFixed(3)} | ${percentile(s, 99.9).toFixed(3)} | ${percentile(s, 100).toFixed(2)} | ${percentile(r.service, 99).toFixed(3)} |`;
      };
      rows.push(`### HTTPS on loopback (\`node ${DEPLOYED_V8_FLAGS.join(' ')} dist/src/cli/main.js webhook\` in its own process, as deploy/base/webhook.yaml runs it; load from a second process, TLS 1.3 keep-alive)`, '');
      rows.push('| run | reviews/s | non-200 | p50 ms (from schedule) | p99 ms (from schedule) | p99.9 ms | max ms | p99 ms (from send) |', '|---|---|---|---|---|---|---|---|');
      const p99s: number[] = [];
      let inFlight = 0;
      if (cRows) {
        rows.push(line(`warm-up: \`/mutate\` at 1,000/s, first ${warmup} s after start (JIT still compiling; not judged)`, cRows.warm));
        inFlight = Math.max(...cRows.runs.map((r) => r.maxInFlight));
        cRows.runs.forEach((r, i) => {
          p99s.push(percentile(r.lat, 99));
          rows.push(line(`\`/mutate\` at 1,000/s, ${seconds} s after ${warmup} s on the same connections, run ${i + 1} (C client)`, r));
        });
        rows.push(line(`\`/healthz\` at 1,000/s, ${seconds} s after ${warmup} s (TLS + HTTP floor, C client)`, cRows.floor));
        rows.push(line(`\`/mutate\` at 1,000/s, the first ${seconds} s of a new client process with 64 new connections (not judged: see below)`, cRows.fresh));
        rows.push(line(`\`/mutate\` at 1,000/s, ${seconds} s after ${warmup} s, C client sleeping between sends (not judged: see below)`, cRows.sleeping));
        rows.push(line(`\`/mutate\` at 1,000/s, ${seconds} s after ${warmup} s, webhook started without \`--single-threaded\` (V8 helper threads on; not judged)`, cRows.multiThreaded));
      } else {
        rows.push(`| C client runs | not measured: ${reason} | | | | | | |`);
      }
      rows.push(line(`\`/mutate\` at 1,000/s, ${seconds} s, Node \`https.request\` client (open loop, 32 connections)`, nodeClient));
      rows.push(line('`/mutate` unpaced, 16 connections, Node client (closed loop; latency per request)', max));
      rows.push(line('`/mutate` one request at a time, 1 connection, Node client (service time without queueing)', sequential));
      // The judged figure is the p99 of every judged request (3 × 15 s); each run's own p99 is shown beside it.
      const overall = cRows ? percentile(cRows.runs.flatMap((r) => r.lat), 99) : NaN;
      const over = p99s.filter((x) => x >= 2).length;
      rows.push(
        '',
        'The C-client rows use bench/loadgen/paced-http.c, built with the system C compiler and OpenSSL when the bench runs. Request *i* is due at start + *i* ms and',
        'goes out on an idle connection of a pool of 64 keep-alive TLS connections (verified against the webhook CA), so a slow response never holds back later',
        'requests (open loop, no coordinated omission); the four reviews of the in-process mix are sent in turn. "From schedule" counts from the due time and so also',
        "includes the client's own lateness; \"from send\" counts from the write. The webhook is the compiled CLI (`npm run build`, run by the bench) with the",
        "Deployment's V8 flags, as the container image runs it. These runs come before the in-process rounds, and each bench runs in a process of its own, so no",
        "bench's leftover heap is being collected (on parallel GC threads) while they measure.",
        '',
        `Judged runs measure the steady state a long-lived caller sees: the client first sends ${warmup} s of the same load on the same connections and records nothing`,
        'for it. The kube-apiserver keeps its webhook connections alive between reviews. A new client process on new TLS connections was slower in its first',
        'seconds in some passes (driven from a shell, 4 runs each: p99 1.30-1.96 ms fresh, 0.42-1.13 ms warmed; which side pays is not pinned down); the',
        '"new client process" row measures that case. The judged runs poll their sockets without sleeping (one of the two cores): a sleeping client on this VM',
        'is often woken milliseconds late, both to send and to read, and that lateness lands in its figures, as the sleeping-client row shows (the webhook needs',
        'about a fifth of the other core at this rate). A Node.js client on the same two cores stalls for milliseconds at a time (its own GC, JIT, timers), as the',
        'Node client rows show.',
        "The webhook runs with V8's `--single-threaded` as deployed: its GC and compiler then use no helper threads, which could otherwise compete with the event",
        'loop in a container with a small CPU share; the row without it is the same webhook with the helper threads, for comparison. A review allocates little (no',
        'old-generation growth in steady state), so the GC work moved onto the event loop is small.',
        '',
        cRows
          ? `Target p99 < 2 ms at 1,000 reviews/s (after warm-up): **${overall < 2 ? 'met' : 'missed'}**: p99 ${overall.toFixed(3)} ms from the schedule over all ${fmt(cRows.runs.reduce((n, r) => n + r.lat.length, 0))} judged requests; ${p99s.map((x) => x.toFixed(3)).join(' / ')} ms in the three runs on their own (${over === 0 ? 'each under 2 ms' : `${over} of 3 at or over 2 ms`}; at most ${inFlight} requests in flight at once).`
          : `Target p99 < 2 ms at 1,000 reviews/s: **not measured** (${reason}).`,
      );
    } finally {
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  return rows;
}

export default async function bench(): Promise<{ title: string; markdown: string }> {
  const loadBefore = loadavg()[0]!;
  // Over HTTPS first, while this process's heap is small: the in-process rounds leave garbage that V8
  // would collect, on parallel GC threads, in the middle of the latency runs.
  const https = await measureHttps();
  const inProcess = measureInProcess();
  const loadAfter = loadavg()[0]!;
  const rows = [...inProcess, ...https];
  rows.push('', `Load average (1 min) before / after: ${loadBefore.toFixed(1)} / ${loadAfter.toFixed(1)} on this 2-core machine, which other builds and benchmarks share; tail latencies include that contention.`);
  return { title: 'Admission webhook: reviews per second and HTTPS latency', markdown: rows.join('\n') };
}

if (process.env.KUBE_SGX_BENCH_CLIENT) {
  clientMain().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
