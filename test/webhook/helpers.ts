/** Shared fixtures for the webhook tests: pods, reviews, and "apply the patch for real". */
import assert from 'node:assert/strict';
import { request } from 'node:https';
import jsonpatch from 'fast-json-patch';
import { mutatePod, type JsonPatchOp, type WebhookConfig } from '../../src/webhook/index.js';

export type Obj = Record<string, unknown>;

export function container(name: string, limits?: Obj, requests?: Obj, extra: Obj = {}): Obj {
  const resources: Obj = {};
  if (limits) resources.limits = limits;
  if (requests) resources.requests = requests;
  return { name, image: 'registry.example/app:1', ...(limits || requests ? { resources } : {}), ...extra };
}

export function pod(containers: Obj[], opts: { init?: Obj[]; annotations?: Record<string, string>; spec?: Obj; metadata?: Obj } = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'web-7d4b9c-', namespace: 'apps', ...(opts.annotations ? { annotations: opts.annotations } : {}), ...opts.metadata },
    spec: { containers, ...(opts.init ? { initContainers: opts.init } : {}), ...opts.spec },
  };
}

export function review(object: unknown, extra: Obj = {}): Obj {
  return {
    apiVersion: 'admission.k8s.io/v1',
    kind: 'AdmissionReview',
    request: {
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      namespace: 'apps',
      operation: 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller' },
      object,
      oldObject: null,
      dryRun: false,
      ...extra,
    },
  };
}

/**
 * Mutates, applies the patch with fast-json-patch (validating every op
 * against the original document, as the API server does), checks that a
 * second pass yields no patch, and returns the patched pod and the ops.
 */
export function mutateAndApply(p: Obj, config: WebhookConfig): { ops: JsonPatchOp[]; out: Obj } {
  const before = structuredClone(p);
  const ops = mutatePod(p, config);
  assert.deepEqual(p, before, 'mutatePod must not modify its input');
  const errs = jsonpatch.validate(ops as jsonpatch.Operation[], structuredClone(p));
  assert.equal(errs, undefined, `patch does not apply: ${String(errs)}`);
  const out = jsonpatch.applyPatch(structuredClone(p), ops as jsonpatch.Operation[], true, false).newDocument as Obj;
  assert.deepEqual(mutatePod(out, config), [], 'a second pass over the patched pod must return no patch');
  return { ops, out };
}

export function limitsOf(p: Obj, list: 'containers' | 'initContainers', i: number): Obj {
  const spec = p.spec as Obj;
  const c = (spec[list] as Obj[])[i]!;
  return ((c.resources as Obj | undefined)?.limits ?? {}) as Obj;
}
export function requestsOf(p: Obj, list: 'containers' | 'initContainers', i: number): Obj {
  const spec = p.spec as Obj;
  const c = (spec[list] as Obj[])[i]!;
  return ((c.resources as Obj | undefined)?.requests ?? {}) as Obj;
}

export interface Reply {
  status: number;
  body: string;
  peerSerial: string;
}

/** One HTTPS request to the webhook on its own connection. */
export function call(url: string, ca: string, path: string, opts: { method?: string; body?: string | Buffer; chunked?: boolean; paced?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, url);
    const req = request(
      { hostname: u.hostname, port: u.port, path: u.pathname, method: opts.method ?? 'POST', ca, agent: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        const peerSerial = (res.socket as import('node:tls').TLSSocket).getPeerCertificate().serialNumber;
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), peerSerial }));
      },
    );
    req.on('error', reject);
    if (opts.body !== undefined && opts.paced) {
      // 64 KiB at a time, each after the last has drained: TLS encrypts what is written at once, so one big
      // write would hold this process's event loop (which the tests measure) for the whole body.
      const b = Buffer.from(opts.body);
      req.setHeader('content-length', b.length);
      let at = 0;
      const next = (): void => {
        while (at < b.length) {
          const piece = b.subarray(at, (at += 64 * 1024));
          if (!req.write(piece)) return void req.once('drain', next);
        }
        req.end();
      };
      next();
      return;
    }
    if (opts.body !== undefined) {
      if (opts.chunked) {
        // Write in pieces without a content-length so the server must count.
        const b = Buffer.from(opts.body);
        for (let i = 0; i < b.length; i += 64 * 1024) req.write(b.subarray(i, i + 64 * 1024));
      } else {
        req.setHeader('content-length', Buffer.byteLength(opts.body));
        req.write(opts.body);
      }
    }
    req.end();
  });
}


/** A temp dir with a CA and a serving pair for localhost/127.0.0.1, as `webhook certs` writes them. */
export async function testCertificates(prefix = 'kube-sgx-webhook-'): Promise<{
  certs: import('../../src/webhook/certs.js').WebhookCertBundle;
  tlsCertFile: string;
  tlsKeyFile: string;
  cleanup: () => Promise<void>;
}> {
  const { mkdtemp, rm } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { generateWebhookCertificates, writeWebhookCertificates } = await import('../../src/webhook/certs.js');
  const dir = await mkdtemp(join(tmpdir(), prefix));
  const certs = await generateWebhookCertificates({ dnsNames: ['localhost'], ipAddresses: ['127.0.0.1'] });
  await writeWebhookCertificates(dir, certs);
  return { certs, tlsCertFile: join(dir, 'tls.crt'), tlsKeyFile: join(dir, 'tls.key'), cleanup: () => rm(dir, { recursive: true, force: true }) };
}
