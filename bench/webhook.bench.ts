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
import { spawn } from 'node:child_process';
import { request, Agent } from 'node:https';
import { mkdtemp, rm, readFile } from 'node:fs/promises';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import jsonpatch from 'fast-json-patch';
import { defaultWebhookConfig, reviewAdmission, generateWebhookCertificates, writeWebhookCertificates, startWebhookServer } from '../src/webhook/index.js';

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
  const o = JSON.parse(process.env.KUBE_SGX_BENCH_CLIENT!) as { url: string; caFile: string; path: string; rate: number; seconds: number; concurrency: number; priority?: number };
  if (o.priority !== undefined) setPriority(o.priority);
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

function runClient(opts: { url: string; caFile: string; path: string; rate: number; seconds: number; concurrency: number; priority?: number }): Promise<ClientResult> {
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

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

// ---- the bench --------------------------------------------------------------

export default async function bench(): Promise<{ title: string; markdown: string }> {
  const rows: string[] = [];
  const loadBefore = loadavg()[0]!;

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
  const fmt = (n: number) => Math.round(n).toLocaleString('en-US');
  rows.push(`### In-process (one thread; review JSON text in → response JSON text out; median of ${rounds} interleaved 1 s rounds)`, '');
  rows.push('| approach | reviews/s | vs target ≥ 5,000/s |', '|---|---|---|');
  rows.push(`| kube-sgx \`/mutate\` (targeted patch) | ${fmt(mutate.perSec)} | ${mutate.perSec >= 5000 ? 'met' : '**missed**'} |`);
  rows.push(`| kube-sgx \`/validate\` | ${fmt(validate.perSec)} | ${validate.perSec >= 5000 ? 'met' : '**missed**'} |`);
  rows.push(`| competitor: clone + edit + \`fast-json-patch.compare\` | ${fmt(naive.perSec)} | ${naive.perSec >= 5000 ? 'met' : '**missed**'} |`);
  rows.push('', `kube-sgx mutate is ${(mutate.perSec / naive.perSec).toFixed(2)}× the clone-and-diff rate on the same four-pod mix (plain pod; 64Mi EPC pod; aesmd + init container + user affinity; legacy MiB name + in-process quoting), ${BODIES.map((b) => b.length).join(' / ')} bytes per review.`);
  rows.push('The competitor does the same edits but none of kube-sgx\'s checks (no structural validation, no exact quantity parsing: it trusts `parseInt`), so it does less work per review; its cost is the deep copy and the diff.');
  rows.push('Beyond speed, clone-and-diff emits whatever `compare` finds (index-based `replace` ops inside arrays), which is only safe against exactly the object it diffed; kube-sgx emits `add`s at addresses it checked, and its tests apply every patch and re-review the result.', '');

  // HTTPS
  const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-bench-'));
  try {
    const certs = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
    const files = await writeWebhookCertificates(dir, certs);
    const server = await startWebhookServer({ listen: '127.0.0.1:0', tlsCertFile: files.cert!, tlsKeyFile: files.key! });
    try {
      const seconds = 15;
      const paced = await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 1000, seconds, concurrency: 32 });
      const floor = await runClient({ url: server.url, caFile: files.caCert!, path: '/healthz', rate: 1000, seconds, concurrency: 32 });
      const max = await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 0, seconds: 8, concurrency: 16 });
      const sequential = await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 0, seconds: 5, concurrency: 1 });
      // The same paced runs with server and client at nice -10: a stand-in for the CPU request a
      // webhook Deployment has on a real node, where it does not share 2 cores with a dozen builds.
      const nice = -10;
      let prioritised: { mutate: ClientResult; floor: ClientResult } | undefined;
      try {
        setPriority(nice);
        prioritised = {
          mutate: await runClient({ url: server.url, caFile: files.caCert!, path: '/mutate', rate: 1000, seconds, concurrency: 32, priority: nice }),
          floor: await runClient({ url: server.url, caFile: files.caCert!, path: '/healthz', rate: 1000, seconds, concurrency: 32, priority: nice }),
        };
      } catch {
        prioritised = undefined; // not permitted (not root): report the default-priority runs only
      } finally {
        try {
          setPriority(0);
        } catch {
          /* unchanged */
        }
      }
      const line = (name: string, r: ClientResult) => {
        const s = [...r.lat].sort((a, b) => a - b);
        const v = [...r.service].sort((a, b) => a - b);
        return `| ${name} | ${fmt(r.ok / r.seconds)} | ${r.errors} | ${pct(s, 50).toFixed(3)} | ${pct(s, 99).toFixed(3)} | ${s[s.length - 1]!.toFixed(2)} | ${pct(v, 50).toFixed(3)} | ${pct(v, 99).toFixed(3)} |`;
      };
      const p99 = pct([...paced.lat].sort((a, b) => a - b), 99);
      const p99Service = pct([...paced.service].sort((a, b) => a - b), 99);
      const p99Nice = prioritised ? pct([...prioritised.mutate.lat].sort((a, b) => a - b), 99) : NaN;
      rows.push(`### HTTPS on loopback (server in this process, client in a second process, TLS 1.3 keep-alive, ${seconds} s per paced run)`, '');
      rows.push('| run | reviews/s | errors | p50 ms (from schedule) | p99 ms (from schedule) | max ms | p50 ms (from send) | p99 ms (from send) |', '|---|---|---|---|---|---|---|---|');
      rows.push(line('`/mutate` paced at 1,000/s (open loop)', paced));
      rows.push(line('`/healthz` paced at 1,000/s (TLS + HTTP floor)', floor));
      rows.push(line('`/mutate` unpaced, 16 connections (closed loop; latency per request)', max));
      rows.push(line('`/mutate` one request at a time, 1 connection (service time without queueing)', sequential));
      if (prioritised) {
        rows.push(line('`/mutate` paced at 1,000/s, server + client at nice −10', prioritised.mutate));
        rows.push(line('`/healthz` paced at 1,000/s, server + client at nice −10', prioritised.floor));
      }
      rows.push(
        '',
        `Target p99 < 2 ms at 1,000 reviews/s: **${p99 < 2 ? 'met' : 'missed'}** measured from the scheduled send time (${p99.toFixed(3)} ms; counts client-side lag too), ` +
          `**${p99Service < 2 ? 'met' : 'missed'}** measured from the moment each request was issued (${p99Service.toFixed(3)} ms). The \`/healthz\` row is the floor any HTTPS server on this machine pays at that rate.` +
          (prioritised ? ` With the webhook and its client at nice −10 (the share a CPU request would give it): **${p99Nice < 2 ? 'met' : 'missed'}** (${p99Nice.toFixed(3)} ms from the schedule).` : ''),
      );
    } finally {
      await server.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
  const loadAfter = loadavg()[0]!;
  rows.push('', `Load average (1 min) before / after: ${loadBefore.toFixed(1)} / ${loadAfter.toFixed(1)} on this 2-core machine, which other builds and benchmarks share; tail latencies include that contention.`);
  return { title: 'Admission webhook: reviews per second and HTTPS latency', markdown: rows.join('\n') };
}

if (process.env.KUBE_SGX_BENCH_CLIENT) {
  clientMain().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
