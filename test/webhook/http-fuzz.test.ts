/**
 * Issue 15 §5: HTTP fuzz of the webhook's server. Random and grammar-aware
 * requests on every route — methods, paths (bad percent-escapes, dot
 * segments, long queries), headers (conflicting lengths, chunked framing,
 * junk names), and bodies (reviews with random subtrees, quantities that
 * are not quantities, deep nesting, invalid UTF-8, truncation) — over raw
 * TLS, so nothing is cleaned up by an HTTP client first. Every answer is
 * below 500, each request costs bounded CPU, and the server is healthy after.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:tls';
import fc from 'fast-check';
import type { WebhookCertBundle } from '../../src/webhook/certs.js';
import { REVIEW_WORKER_THRESHOLD_BYTES, startWebhookServer, type WebhookServer } from '../../src/webhook/server.js';
import { parseWebhookConfig } from '../../src/webhook/index.js';
import { call, container, pod, review, testCertificates, type Obj } from './helpers.js';

/** CPU (user + system, this process: client and server) one request may cost. Generous: a loaded 2-core machine. */
const CPU_BOUND_MS = 500;

interface Outcome {
  status: number | undefined;
  head: string;
  cpuMs: number;
}

/** Sends raw bytes on a fresh TLS connection, half-closes, and reads until the server closes. */
function exchange(url: string, ca: string, bytes: Buffer): Promise<Outcome> {
  const u = new URL(url);
  const cpu = process.cpuUsage();
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const sock = connect({ host: u.hostname, port: Number(u.port), ca }, () => {
      sock.write(bytes);
      sock.end();
    });
    const timer = setTimeout(() => reject(new Error(`no close within 30 s for ${JSON.stringify(bytes.subarray(0, 200).toString('latin1'))}`)), 30_000);
    sock.on('data', (c: Buffer) => chunks.push(c));
    sock.on('error', () => undefined); // a reset after the answer is read is fine; the answer is what is checked
    sock.on('close', () => {
      clearTimeout(timer);
      const used = process.cpuUsage(cpu);
      const text = Buffer.concat(chunks).toString('latin1');
      // The final status: interim 1xx answers (Expect: 100-continue) come first.
      const final = [...text.matchAll(/(?:^|\r\n)HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])).find((n) => n >= 200);
      resolve({ status: final, head: text.slice(0, 300), cpuMs: (used.user + used.system) / 1000 });
    });
  });
}

const ROUTES = ['/mutate', '/validate', '/healthz', '/readyz', '/metrics', '/', '/nope'];
const NASTY_PATHS = [
  '/%ZZ', '/mutate%00', '/%E0%A4%A', '/a%', '/%C0%AF', '//mutate', '/mutate/../validate', '/./mutate',
  `/mutate?${'a'.repeat(6000)}`, '/mutate#frag', '*', 'http://evil.example/mutate', '/mutate;x=1', '/\u00e9',
];
const pathArb = fc.oneof(
  fc.constantFrom(...ROUTES),
  fc.constantFrom(...NASTY_PATHS),
  fc.tuple(fc.constantFrom(...ROUTES), fc.string({ maxLength: 60 })).map(([r, q]) => `${r}?${encodeURIComponent(q)}`),
  fc.stringMatching(/^\/[!-~]{0,300}$/),
);
const methodArb = fc.oneof(
  fc.constantFrom('POST', 'POST', 'POST', 'GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
  fc.stringMatching(/^[A-Z]{1,12}$/),
);

const quantityArb = fc.oneof(
  fc.constantFrom('4Mi', '1', '0', '64Mi', '1.5Gi', '1e400', '-1', '0x10', 'Infinity', 'NaN', '', ' 4Mi', '4 Mi', '9'.repeat(120), '1e-9', '4mi'),
  fc.string({ maxLength: 12 }),
  fc.integer(),
  fc.double(),
);
const sgxName = fc.constantFrom('sgx.intel.com/epc', 'kubernetes.azure.com/sgx_epc_mem_in_MiB', 'sgx.intel.com/enclave', 'sgx.intel.com/provision', 'sgx.intel.com/bogus', 'cpu');
const containerArb = fc
  .tuple(fc.oneof(fc.constantFrom('app', 'aesmd', 'sidecar'), fc.string({ maxLength: 20 })), fc.dictionary(sgxName, quantityArb, { maxKeys: 3 }), fc.option(fc.dictionary(sgxName, quantityArb, { maxKeys: 2 }), { nil: undefined }))
  .map(([name, limits, requests]) => container(name, limits, requests));
const podArb = fc
  .tuple(
    fc.array(containerArb, { minLength: 0, maxLength: 4 }),
    fc.option(fc.array(containerArb, { maxLength: 2 }), { nil: undefined }),
    fc.option(fc.dictionary(fc.constantFrom('kube-sgx.io/quote-provider', 'sgx.intel.com/quote-provider', 'x'), fc.oneof(fc.constantFrom('aesmd', 'app'), fc.string({ maxLength: 10 })), { maxKeys: 2 }), { nil: undefined }),
  )
  .map(([cs, init, annotations]) => pod(cs, { ...(init ? { init } : {}), ...(annotations ? { annotations } : {}) }));

/** Replaces one subtree of `doc` (chosen by `pick`) with `value`. */
function graft(doc: unknown, pick: number, value: unknown): unknown {
  const nodes: Array<{ parent: Obj | unknown[]; key: string | number }> = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) {
      v.forEach((x, i) => {
        nodes.push({ parent: v, key: i });
        walk(x);
      });
    } else if (v && typeof v === 'object') {
      for (const k of Object.keys(v)) {
        nodes.push({ parent: v as Obj, key: k });
        walk((v as Obj)[k]);
      }
    }
  };
  walk(doc);
  if (nodes.length === 0) return value;
  const n = nodes[pick % nodes.length]!;
  (n.parent as Record<string | number, unknown>)[n.key] = value;
  return doc;
}

const bodyArb: fc.Arbitrary<Buffer> = fc.oneof(
  podArb.map((p) => Buffer.from(JSON.stringify(review(p)))),
  fc.tuple(podArb, fc.nat(), fc.jsonValue({ maxDepth: 3 })).map(([p, pick, v]) => Buffer.from(JSON.stringify(graft(review(p), pick, v)))),
  fc.tuple(podArb, fc.nat(), fc.constantFrom('__proto__', 'constructor', 'toString')).map(([p, pick, key]) => Buffer.from(JSON.stringify(graft(review(p), pick, JSON.parse(`{"${key}":{"polluted":true}}`))))),
  fc.tuple(podArb, fc.nat({ max: 4000 })).map(([p, cut]) => Buffer.from(JSON.stringify(review(p))).subarray(0, cut)),
  fc.jsonValue({ maxDepth: 4 }).map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.integer({ min: 1, max: 200_000 }).map((n) => Buffer.from('['.repeat(n) + ']'.repeat(n))),
  fc.integer({ min: 1, max: 50_000 }).map((n) => Buffer.from(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","object":${'{"a":'.repeat(n)}1${'}'.repeat(n)}}}`)),
  fc.uint8Array({ maxLength: 2000 }).map((b) => Buffer.from(b)),
  fc.constant(Buffer.alloc(0)),
);

const headerArb = fc.oneof(
  fc.constantFrom(
    ['Content-Type', 'application/json'],
    ['Content-Type', 'text/plain; charset=utf-16'],
    ['Content-Length', '5'],
    ['Content-Length', '-1'],
    ['Content-Length', '99999999999999999999'],
    ['Content-Length', '1, 2'],
    ['Transfer-Encoding', 'chunked'],
    ['Transfer-Encoding', 'gzip, chunked'],
    ['Expect', '100-continue'],
    ['Connection', 'upgrade'],
    ['Upgrade', 'h2c'],
    ['Content-Encoding', 'gzip'],
    ['Host', ''],
  ) as fc.Arbitrary<[string, string]>,
  fc.tuple(fc.stringMatching(/^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,40}$/), fc.stringMatching(/^[ -~]{0,200}$/)),
  fc.tuple(fc.constant('X-Big'), fc.integer({ min: 1, max: 40_000 }).map((n) => 'v'.repeat(n))),
);

function request(method: string, path: string, headers: Array<[string, string]>, body: Buffer, withLength: boolean): Buffer {
  let head = `${method} ${path} HTTP/1.1\r\nHost: webhook\r\n`;
  for (const [k, v] of headers) head += `${k}: ${v}\r\n`;
  if (withLength) head += `Content-Length: ${body.length}\r\n`;
  return Buffer.concat([Buffer.from(head + '\r\n', 'latin1'), body]);
}

describe('webhook HTTP fuzz', () => {
  let cleanup: () => Promise<void>;
  let certs: WebhookCertBundle;
  let server: WebhookServer;
  const statuses = new Map<number | 'none', number>();
  const note = (o: Outcome) => statuses.set(o.status ?? 'none', (statuses.get(o.status ?? 'none') ?? 0) + 1);

  before(async () => {
    const t = await testCertificates('kube-sgx-webhook-fuzz-');
    ({ certs, cleanup } = t);
    server = await startWebhookServer({ listen: '127.0.0.1:0', tlsCertFile: t.tlsCertFile, tlsKeyFile: t.tlsKeyFile, config: parseWebhookConfig({ maxEpcPerNode: '64Mi' }) });
    // Start the review worker (bodies over REVIEW_WORKER_THRESHOLD_BYTES) before measuring: under tsx its start
    // compiles the review modules again, about a second of CPU once, not a cost of the request that triggers it.
    const warm = JSON.stringify(review(pod([container('app', { 'sgx.intel.com/epc': '4Mi' })]), { pad: 'x'.repeat(REVIEW_WORKER_THRESHOLD_BYTES) }));
    assert.equal((await call(server.url, t.certs.caCertPem, '/mutate', { body: warm })).status, 200);
  });
  after(async () => {
    await server.close();
    await cleanup();
  });

  test('well-formed requests with random method, path and body on every route: an answer below 500 within the CPU bound', async () => {
    await fc.assert(
      fc.asyncProperty(methodArb, pathArb, bodyArb, async (method, path, body) => {
        const o = await exchange(server.url, certs.caCertPem, request(method, path, [['Content-Type', 'application/json']], body, true));
        note(o);
        assert.ok(o.status !== undefined, `no status for ${method} ${path}: ${o.head}`);
        assert.ok(o.status < 500, `${o.status} for ${method} ${path}: ${o.head}`);
        assert.ok(o.cpuMs < CPU_BOUND_MS, `${o.cpuMs} ms CPU for ${method} ${path}`);
        if (method === 'POST' && (path === '/mutate' || path === '/validate')) assert.ok([200, 400, 413].includes(o.status), `${o.status} on ${path}`);
      }),
      { numRuns: 500 },
    );
  });

  test('random and conflicting headers (lengths, chunked framing, junk): below 500 or closed, within the CPU bound', async () => {
    await fc.assert(
      fc.asyncProperty(methodArb, fc.constantFrom(...ROUTES), fc.array(headerArb, { maxLength: 6 }), bodyArb, fc.boolean(), async (method, path, headers, body, withLength) => {
        const o = await exchange(server.url, certs.caCertPem, request(method, path, headers, body, withLength));
        note(o);
        if (o.status !== undefined) assert.ok(o.status < 500, `${o.status}: ${o.head}`);
        assert.ok(o.cpuMs < CPU_BOUND_MS, `${o.cpuMs} ms CPU`);
      }),
      { numRuns: 300 },
    );
  });

  test('junk instead of HTTP (random bytes, broken request lines, bare LF, NUL): 4xx or closed', async () => {
    const junk = fc.oneof(
      fc.uint8Array({ minLength: 1, maxLength: 3000 }).map((b) => Buffer.from(b)),
      fc.tuple(methodArb, fc.string({ maxLength: 80 })).map(([m, p]) => Buffer.from(`${m} ${p} HTTP/1.1\r\n\r\n`)),
      fc.constantFrom(
        'GET / HTTP/1.1\nHost: x\n\n', 'GET /\0 HTTP/1.1\r\n\r\n', 'POST /mutate HTTP/9.9\r\n\r\n', 'GET / HTTP/1.1\r\nHost: x\r\n Folded: y\r\n\r\n',
        'POST /mutate HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'POST /mutate HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n',
        `GET / HTTP/1.1\r\n${'X: y\r\n'.repeat(3000)}\r\n`, 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n',
      ).map((s) => Buffer.from(s, 'latin1')),
    );
    await fc.assert(
      fc.asyncProperty(junk, async (bytes) => {
        const o = await exchange(server.url, certs.caCertPem, bytes);
        note(o);
        if (o.status !== undefined) assert.ok(o.status >= 400 && o.status < 500, `${o.status}: ${o.head}`);
        assert.ok(o.cpuMs < CPU_BOUND_MS, `${o.cpuMs} ms CPU`);
      }),
      { numRuns: 150 },
    );
  });

  test('malformed HTTP is answered with a status before the close, not a bare reset', async () => {
    const bad = await exchange(server.url, certs.caCertPem, Buffer.from('GARBAGE\r\n\r\n'));
    assert.equal(bad.status, 400, bad.head);
    const big = await exchange(server.url, certs.caCertPem, Buffer.from(`GET / HTTP/1.1\r\nX: ${'v'.repeat(40_000)}\r\n${'Y: z\r\n'.repeat(2000)}\r\n`));
    assert.equal(big.status, 431, big.head);
  });

  test('the server is healthy after the fuzz and still reviews correctly', async () => {
    assert.equal((await call(server.url, certs.caCertPem, '/healthz', { method: 'GET' })).status, 200);
    assert.equal((await call(server.url, certs.caCertPem, '/readyz', { method: 'GET' })).status, 200);
    const r = await call(server.url, certs.caCertPem, '/mutate', { body: JSON.stringify(review(pod([container('app', { 'sgx.intel.com/epc': '4Mi' })]))) });
    assert.equal(r.status, 200);
    assert.ok((JSON.parse(r.body) as { response: { patch?: string } }).response.patch);
    assert.equal(statuses.get(500) ?? 0, 0);
    // The fuzz reached the reviewing code, not just the HTTP parser.
    assert.ok((statuses.get(200) ?? 0) > 20 && (statuses.get(400) ?? 0) > 20, JSON.stringify([...statuses]));
    process.stderr.write(`# webhook fuzz statuses: ${JSON.stringify(Object.fromEntries(statuses))}\n`);
  });
});
