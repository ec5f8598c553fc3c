/**
 * Issue 15: a body over the attestation service's limit is answered with a
 * real 413 problem document, never a reset the client sees as EPIPE or
 * ECONNRESET, however far over the limit it is (with or without
 * Content-Length), and the server stays healthy. Over TLS, as deployed.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { startAttestationService, type RunningAttestationService } from '../../src/service/server.js';
import { generateTlsCertificate } from '../../src/service/certs.js';
import { MAX_BODY_BYTES } from '../../src/service/http.js';
import { tempDir } from './helpers.js';

const tmp = tempDir('kube-sgx-body-limit-');
let tlsSvc: RunningAttestationService;
let plainSvc: RunningAttestationService;
let ca: string;

interface Answer {
  status: number;
  contentType: string;
  body: string;
}

/**
 * POSTs `size` bytes in 64 KiB writes, one per turn of the loop, with a
 * Content-Length or chunked, on a connection of its own (`Connection:
 * close`, as a client without an agent sends). Resolves with the answer
 * once it has been read in full; a socket error (EPIPE, ECONNRESET) before
 * that rejects.
 */
function post(base: string, path: string, size: number, chunked: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const u = new URL(path, base);
    const headers: Record<string, string> = { 'content-type': 'application/json', ...(chunked ? {} : { 'content-length': String(size) }) };
    const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = request(u, { method: 'POST', headers, ca, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    const piece = Buffer.alloc(64 * 1024, 0x20);
    let sent = 0;
    const next = (): void => {
      if (sent >= size || req.destroyed) return void req.end();
      const n = Math.min(piece.length, size - sent);
      sent += n;
      req.write(n === piece.length ? piece : piece.subarray(0, n));
      setImmediate(next);
    };
    next();
  });
}

function assertTooLarge(a: Answer, what: string): void {
  assert.equal(a.status, 413, `${what}: HTTP ${a.status} ${a.body.slice(0, 200)}`);
  assert.equal(a.contentType, 'application/problem+json', what);
  const doc = JSON.parse(a.body) as { code: string; detail: string };
  assert.equal(doc.code, 'PAYLOAD_TOO_LARGE', what);
  assert.ok(doc.detail.includes(String(MAX_BODY_BYTES)), `${what}: the limit is named: ${doc.detail}`);
}

before(async () => {
  const tls = await generateTlsCertificate({ ips: ['127.0.0.1'] });
  ca = tls.certificatePem;
  const common = { simulation: true, platformDir: `${tmp.dir}/platform`, rateLimit: { rate: 0 } } as const;
  tlsSvc = await startAttestationService({ ...common, listen: '127.0.0.1:0', tls: { cert: tls.certificatePem, key: tls.privateKeyPem }, dataDir: `${tmp.dir}/tls` });
  plainSvc = await startAttestationService({ ...common, listen: '127.0.0.1:0', dataDir: `${tmp.dir}/plain` });
});
after(async () => {
  await tlsSvc.close();
  await plainSvc.close();
  tmp.cleanup();
});

const FAR = 8 * 1024 * 1024;
const ATTEST = '/attest/SgxEnclave?api-version=2022-08-01';

for (const [transport, svc] of [['HTTP', () => plainSvc], ['HTTPS', () => tlsSvc]] as const) {
  describe(`attestation service over ${transport}: bodies over the limit`, () => {
    test('an 8 MiB body with Content-Length: a real 413 naming the limit, 20 of 20 in a row', async () => {
      for (let i = 0; i < 20; i++) assertTooLarge(await post(svc().url, ATTEST, FAR, false), `request ${i + 1}`);
    });

    test('an 8 MiB chunked body (no Content-Length): a real 413 naming the limit, 20 of 20 in a row', async () => {
      for (let i = 0; i < 20; i++) assertTooLarge(await post(svc().url, ATTEST, FAR, true), `request ${i + 1}`);
    });

    test('one byte over the limit, both framings, and on a KBS route (Trustee error shape, still 413)', async () => {
      assertTooLarge(await post(svc().url, ATTEST, MAX_BODY_BYTES + 1, false), 'Content-Length');
      assertTooLarge(await post(svc().url, ATTEST, MAX_BODY_BYTES + 1, true), 'chunked');
      const kbs = await post(svc().url, '/kbs/v0/auth', FAR, true);
      assert.equal(kbs.status, 413, kbs.body);
      assert.equal((JSON.parse(kbs.body) as { code: string }).code, 'PAYLOAD_TOO_LARGE');
    });

    test('at the limit the body is read (a 400 about its content, not its size)', async () => {
      const a = await post(svc().url, ATTEST, MAX_BODY_BYTES, true);
      assert.equal(a.status, 400, a.body.slice(0, 200));
      assert.equal((JSON.parse(a.body) as { code: string }).code, 'INVALID_JSON');
    });

    test('a body to a route that refuses before reading it (401, 404), chunked 8 MiB or a Content-Length at the limit: the answer, not a reset', async () => {
      for (let i = 0; i < 5; i++) {
        for (const [size, chunked] of [[FAR, true], [MAX_BODY_BYTES, false]] as const) {
          const unauthorized = await post(svc().url, '/admin/signing-keys/rotate', size, chunked);
          assert.equal(unauthorized.status, 401, unauthorized.body.slice(0, 200));
          assert.equal((JSON.parse(unauthorized.body) as { code: string }).code, 'UNAUTHORIZED');
          const missing = await post(svc().url, '/no/such/route', size, chunked);
          assert.equal(missing.status, 404, missing.body.slice(0, 200));
        }
      }
    });

    test('after a 413 the same connection serves the next request', async () => {
      const u = new URL(svc().url);
      for (const chunked of [false, true]) {
        const text = await new Promise<string>((resolve, reject) => {
          const onConnect = () => {
            const body = Buffer.alloc(2 * MAX_BODY_BYTES, 0x20);
            if (chunked) {
              sock.write(`POST ${ATTEST} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n`);
              sock.write(`${body.length.toString(16)}\r\n`);
              sock.write(body);
              sock.write('\r\n0\r\n\r\n');
            } else {
              sock.write(`POST ${ATTEST} HTTP/1.1\r\nHost: x\r\nContent-Length: ${body.length}\r\n\r\n`);
              sock.write(body);
            }
            sock.write('GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
          };
          const sock: Socket = u.protocol === 'https:' ? tlsConnect({ host: u.hostname, port: Number(u.port), ca }, onConnect) : netConnect(Number(u.port), u.hostname, onConnect);
          let got = '';
          sock.on('data', (c: Buffer) => (got += c.toString('latin1')));
          sock.on('end', () => resolve(got));
          sock.on('error', reject);
        });
        const framing = chunked ? 'chunked' : 'Content-Length';
        assert.match(text, /^HTTP\/1\.1 413 /, framing);
        assert.match(text, /HTTP\/1\.1 200 [\s\S]*\r\n\r\n/, `${framing}: /healthz answered on the same connection`);
      }
    });

    test('the server is healthy afterwards and counted the refusals as 413', async () => {
      const m = await fetchText(svc().url, '/metrics');
      assert.match(m, /kube_sgx_attestation_http_requests_total\{route="[^"]*",status="413"\} \d+/);
      assert.equal(await fetchText(svc().url, '/healthz'), 'ok\n');
    });
  });
}

function fetchText(base: string, path: string): Promise<string> {
  const u = new URL(path, base);
  const request = u.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    request(u, { ca }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    })
      .on('error', reject)
      .end();
  });
}
