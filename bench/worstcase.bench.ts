/**
 * Issue 15 §1: "no request may block the event loop for more than 100 ms".
 * For each endpoint of the attestation service, the costliest request we
 * can construct that the service still accepts (largest body, deepest
 * nesting, biggest policy, worst draft policy, many secrets and keys), plus
 * the costliest ones it refuses, sent one at a time over HTTP on 127.0.0.1
 * to the real server (SQLite store, simulated platform, real DCAP verifier).
 * Measured per case: the longest event-loop block (perf_hooks
 * monitorEventLoopDelay at 1 ms resolution, max over the repetitions) and
 * the process CPU per request (includes libuv's thread pool, e.g. RSA key
 * generation, which does not block the loop).
 */
import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { SimPlatform } from '../src/sim/index.js';
import { startAttestationService } from '../src/service/server.js';
import { MAX_BODY_BYTES } from '../src/service/http.js';
import { MAX_JSON_CONTAINERS, MAX_JSON_MEMBERS } from '../src/service/encoding.js';
import { POLICY_LIMITS } from '../src/service/policy/limits.js';
import { MAX_SECRET_BYTES } from '../src/service/secrets.js';
import { silentLogger } from '../src/ops/log.js';

const REPS = Number(process.env.WORSTCASE_BENCH_REPS ?? 8);
const ADMIN = 'worst-case-bench-admin-token';
const LIMIT_MS = 100;

interface Reply {
  status: number;
  body: string;
  cookie?: string;
}

function call(url: string, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : Buffer.from(body);
    const r = request(`${url}${path}`, { method, headers: { ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}), ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const cookie = ([] as string[]).concat(res.headers['set-cookie'] ?? [])[0]?.split(';')[0];
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), ...(cookie ? { cookie } : {}) });
      });
      res.on('error', reject);
    });
    r.on('error', reject);
    r.end(payload);
  });
}

const b64u = (b: Uint8Array | string) => Buffer.from(b).toString('base64url');

let freshSalt = 0;

/**
 * JSON of about `bytes` characters holding `members` members (2 of them
 * "deep" and "items", the rest in objects of 4), nested `depth` levels at its
 * deepest. Its keys
 * are new to the process on every call: V8 builds a hidden class per new set
 * of keys, so this is the costliest JSON.parse input per member (repeated
 * keys parse several times faster). Keys are padded to fill `bytes`. Built
 * as text, never parsed here: a parse in this process would make the keys
 * known to the server's.
 */
function freshJson(bytes: number, depth: number, members: number): string {
  const salt = `${(freshSalt++).toString(36)}_`;
  const deep = '['.repeat(depth - 1) + ']'.repeat(depth - 1);
  members -= 2; // "deep" and "items"
  const keyLength = Math.max(salt.length + 5, Math.floor((bytes - deep.length - 40 - members / 2) / members) - 4);
  const items: string[] = [];
  for (let i = 0; i < members; i += 4) {
    const keys: string[] = [];
    // Zero-padded numbers keep each object's keys in order: the text is its own RFC 8785 form (KBS hashes that).
    for (let j = i; j < Math.min(i + 4, members); j++) keys.push(`"${`${salt}${String(j).padStart(5, '0')}`.padEnd(keyLength, 'x')}":${j % 10}`);
    items.push(`{${keys.join(',')}}`);
  }
  return `{"deep":${deep},"items":[${items.join(',')}]}`;
}

/** The largest policy text the limits accept whose every rule nearly matches: 64 conditions, 63 matching many claims, the last failing. */
function worstPolicy(): string {
  const rule = `${Array.from({ length: POLICY_LIMITS.maxConditionsPerRule - 1 }, () => '[type=="x-kube-sgx-advisory-ids"]').join(' && ')} && [type=="x-ms-sgx-svn", value==99999] => deny();\n`;
  const head = 'version=1.0; authorizationrules {\n';
  const tail = '=> permit(); };';
  const n = Math.min(POLICY_LIMITS.maxRulesPerSection - 1, Math.floor((POLICY_LIMITS.maxTextLength - head.length - tail.length) / rule.length));
  return head + rule.repeat(n) + tail;
}

function policyJws(text: string): string {
  return `${b64u(JSON.stringify({ alg: 'none' }))}.${b64u(JSON.stringify({ AttestationPolicy: b64u(text) }))}.`;
}

interface Row {
  endpoint: string;
  input: string;
  status: number;
  blockMs: number;
  loopCpuMs: number;
  cpuMs: number;
}

/**
 * CPU time of this process's main thread (the event loop) in ms, from
 * Linux's /proc/self/task/PID/schedstat (nanoseconds on CPU). Unlike the
 * loop delay it does not grow when the OS runs other processes, and a
 * request's longest block can be no longer than its main-thread CPU.
 */
function loopThreadCpuMs(): number {
  try {
    return Number(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  } catch {
    return NaN;
  }
}

/**
 * The longest block in CPU terms: a 1 ms timer reads the main thread's CPU
 * at each tick; the largest difference between two ticks is the most CPU
 * the loop spent without coming back to its timers (the longest block plus
 * at most 1 ms of other callbacks), whatever else the machine was running.
 */
function blockProbe(): { stop(): number } {
  let last = loopThreadCpuMs();
  let max = 0;
  const tick = () => {
    const now = loopThreadCpuMs();
    max = Math.max(max, now - last);
    last = now;
    timer = setTimeout(tick, 1);
  };
  let timer = setTimeout(tick, 1);
  return {
    stop() {
      clearTimeout(timer);
      return max;
    },
  };
}

export default async function bench(): Promise<{ title: string; markdown: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-worstcase-'));
  const platform = await SimPlatform.open(join(dir, 'platform'), { seed: 'worst-case-bench' });
  const svc = await startAttestationService({ listen: '127.0.0.1:0', simulation: true, platformDir: join(dir, 'platform'), dataDir: join(dir, 'data'), adminToken: ADMIN, rateLimit: { rate: 0 }, logger: silentLogger });
  const admin = { authorization: `Bearer ${ADMIN}` };
  const enclave = { mrEnclave: Buffer.alloc(32, 0xee), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 1, isvSvn: 1 };
  const sgxQuote = (rd32: Uint8Array) => {
    const rd = Buffer.alloc(64);
    Buffer.from(rd32).copy(rd);
    return platform.getQuote(platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: rd, ...enclave, debug: false })).quote;
  };
  const rows: Row[] = [];
  const h = monitorEventLoopDelay({ resolution: 1 });

  /** REPS + 1 request bodies built ahead (a quote costs CPU the probe would count), handed out in turn. */
  const inTurn = (build: () => string): (() => string) => {
    const bodies = Array.from({ length: REPS + 1 }, build);
    let next = 0;
    return () => bodies[next++ % bodies.length]!;
  };

  /** Runs `make()` REPS times, one request at a time, and records the longest loop block and the mean CPU. */
  async function measure(endpoint: string, input: string, make: () => Promise<Reply>): Promise<void> {
    await make(); // warm-up (JIT, first-use caches)
    let cpu = 0;
    let status = 0;
    h.reset();
    h.enable();
    const probe = blockProbe();
    for (let i = 0; i < REPS; i++) {
      const c0 = process.cpuUsage();
      status = (await make()).status;
      const c = process.cpuUsage(c0);
      cpu += (c.user + c.system) / 1000;
    }
    const loopCpu = probe.stop();
    h.disable();
    rows.push({ endpoint, input, status, blockMs: Math.round(h.max / 1e5) / 10, loopCpuMs: Math.round(loopCpu * 10) / 10, cpuMs: Math.round((cpu / REPS) * 10) / 10 });
    process.stderr.write(`worstcase: ${endpoint} ${input.slice(0, 60)}: ${rows.at(-1)!.blockMs} ms block, ${rows.at(-1)!.loopCpuMs} ms block CPU\n`);
  }

  try {
    // ---- state that makes list/status endpoints expensive: many secrets, many signing keys, a big stored policy
    const secretValue = b64u(Buffer.alloc(MAX_SECRET_BYTES, 7));
    const releasePolicy = { version: '1.0.0', anyOf: [{ authority: svc.issuer, allOf: [{ claim: 'x-ms-sgx-mrenclave', equals: enclave.mrEnclave.toString('hex') }, { claim: 'x-ms-sgx-is-debuggable', equals: false }] }] };
    for (let i = 0; i < 500; i++) await call(svc.url, 'PUT', `/admin/secrets/default/many/s${i}`, JSON.stringify({ value: b64u(Buffer.alloc(64, i)), releasePolicy }), admin);
    for (let i = 0; i < 20; i++) await call(svc.url, 'POST', '/admin/signing-keys/rotate', '{"activateAfterSeconds":0}', admin);

    // ---- MAA attestation: the largest body the cap admits, JSON runtime data with the most members accepted
    // (keys new to the process on every request), nested to the depth limit
    const runtimeBytes = Math.floor(((MAX_BODY_BYTES - 20_000) * 3) / 4);
    const sample = Buffer.from(freshJson(runtimeBytes, 62, MAX_JSON_MEMBERS));
    const runtimeInput = `JSON runtime data of ${(sample.length / 1024).toFixed(0)} KiB: ${MAX_JSON_MEMBERS.toLocaleString('en')} members (the most accepted) with keys new on every request, 62 levels deep`;
    const maaBody = (evidence: 'quote' | 'report') => {
      const runtime = Buffer.from(freshJson(runtimeBytes, 62, MAX_JSON_MEMBERS));
      const quote = sgxQuote(createHash('sha256').update(runtime).digest());
      return JSON.stringify({ [evidence]: b64u(evidence === 'report' ? Buffer.concat([Buffer.alloc(16), quote]) : quote), runtimeData: { data: b64u(runtime), dataType: 'JSON' } });
    };
    const attestBodies = inTurn(() => maaBody('quote'));
    await measure('POST /attest/SgxEnclave', `${MAX_BODY_BYTES / 1024} KiB body: ${runtimeInput}`, () => call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', attestBodies()));
    const policy = worstPolicy();
    const small = Buffer.from('{"a":1}');
    const draftBody = JSON.stringify({ quote: b64u(sgxQuote(createHash('sha256').update(small).digest())), runtimeData: { data: b64u(small), dataType: 'JSON' }, draftPolicyForAttestation: policy });
    await measure('POST /attest/SgxEnclave', `draft policy of ${(policy.length / 1024).toFixed(0)} KiB: ${policy.split('=> deny()').length - 1} rules × ${POLICY_LIMITS.maxConditionsPerRule} conditions, the last failing`, () =>
      call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', draftBody),
    );
    const queryPolicy = 'version=1.2; authorizationrules { c:[type=="x-ms-runtime"] => add(type="deep", value=JmesPath(c.value, "deep")); => permit(); };';
    const queriedBodies = inTurn(() => {
      const body = JSON.parse(maaBody('quote')) as Record<string, unknown>;
      return JSON.stringify({ ...body, draftPolicyForAttestation: queryPolicy });
    });
    await measure('POST /attest/SgxEnclave', 'the runtime data above, queried by a draft policy (JmesPath: the policy parses it again)', () => call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', queriedBodies()));
    const deepBody = `{"quote":${'['.repeat(MAX_BODY_BYTES / 2 - 10)}${']'.repeat(MAX_BODY_BYTES / 2 - 10)}}`;
    await measure('POST /attest/SgxEnclave', `refused: ${MAX_BODY_BYTES / 1024} KiB body nested ${(MAX_BODY_BYTES / 2 - 10).toLocaleString('en')} levels`, () => call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', deepBody));
    const unit = '[[{}]]';
    const manyBody = `{"quote":[${Array(Math.floor((MAX_BODY_BYTES - 64) / (unit.length + 1))).fill(unit).join(',')}]}`;
    await measure('POST /attest/SgxEnclave', `refused: ${MAX_BODY_BYTES / 1024} KiB body of ${(3 * Math.floor((MAX_BODY_BYTES - 64) / (unit.length + 1))).toLocaleString('en')} small arrays/objects (\`[[{}]]\`)`, () => call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', manyBody));
    const dense = Buffer.from(`{"items":[${Array(Math.floor((MAX_JSON_CONTAINERS - 10) / 3)).fill(unit).join(',')}]}`);
    const denseBody = JSON.stringify({ quote: b64u(sgxQuote(createHash('sha256').update(dense).digest())), runtimeData: { data: b64u(dense), dataType: 'JSON' } });
    await measure('POST /attest/SgxEnclave', `JSON runtime data with ${(MAX_JSON_CONTAINERS - 10).toLocaleString('en')} arrays/objects (the most accepted), \`[[{}]]\` repeated`, () =>
      call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', denseBody),
    );
    const oeBodies = inTurn(() => maaBody('report'));
    await measure('POST /attest/OpenEnclave', `OE report header + quote, ${runtimeInput}`, () => call(svc.url, 'POST', '/attest/OpenEnclave?api-version=2022-08-01', oeBodies()));
    const tdxBodies = inTurn(() => {
      const runtime = Buffer.from(freshJson(runtimeBytes, 62, MAX_JSON_MEMBERS));
      const rd = Buffer.alloc(64);
      createHash('sha256').update(runtime).digest().copy(rd);
      const td = platform.getTdQuote(platform.tdReport({ reportData: rd, mrTd: Buffer.alloc(48, 0x7d) }));
      return JSON.stringify({ quote: b64u(td), runtimeData: { data: b64u(runtime), dataType: 'JSON' } });
    });
    await measure('POST /attest/TdxVm', `simulated TD quote, ${runtimeInput}`, () => call(svc.url, 'POST', '/attest/TdxVm?api-version=2025-06-01', tdxBodies()));

    // ---- policy management: the biggest policy accepted, stored and served back in a signed token
    const putBody = policyJws(policy);
    await measure('PUT /policies/SgxEnclave', `the ${(policy.length / 1024).toFixed(0)} KiB policy above`, () => call(svc.url, 'PUT', '/policies/SgxEnclave?api-version=2020-10-01', putBody, admin));
    await measure('GET /policies/SgxEnclave', 'that policy, as a signed token', () => call(svc.url, 'GET', '/policies/SgxEnclave?api-version=2020-10-01', undefined, admin));
    await measure('POST /attest/SgxEnclave', 'small body against that stored policy', () => call(svc.url, 'POST', '/attest/SgxEnclave?api-version=2022-08-01', JSON.stringify({ quote: b64u(sgxQuote(createHash('sha256').update(small).digest())), runtimeData: { data: b64u(small), dataType: 'JSON' } })));
    await measure('GET /policies/SgxEnclave/versions', `${'several'} versions of that policy`, () => call(svc.url, 'GET', '/policies/SgxEnclave/versions', undefined, admin));
    await call(svc.url, 'POST', '/policies/SgxEnclave:reset?api-version=2020-10-01', `${b64u('{"alg":"none"}')}..`, admin);

    // ---- Trustee KBS: a tee-pubkey as large and deep as the body admits (keys new on every request), bound into the quote, then the resource by cookie
    const paddingBytes = MAX_BODY_BYTES - 20_000;
    // The Request's own members (version, tee, extra-params) count too.
    const authBodies = inTurn(() => `{"version":"0.4.0","tee":"sgx","extra-params":${freshJson(paddingBytes, 60, MAX_JSON_MEMBERS - 3)}}`);
    await measure('POST /kbs/v0/auth', `Request with ${(paddingBytes / 1024).toFixed(0)} KiB of extra-params: ${MAX_JSON_MEMBERS.toLocaleString('en')} members, keys new on every request`, () => call(svc.url, 'POST', '/kbs/v0/auth', authBodies()));
    let cookie = '';
    const { createECDH } = await import('node:crypto');
    const kbsAttestOnce = async () => {
      const a = await call(svc.url, 'POST', '/kbs/v0/auth', JSON.stringify({ version: '0.4.0', tee: 'sgx', 'extra-params': {} }));
      const nonce = (JSON.parse(a.body) as { nonce: string }).nonce;
      const point = createECDH('prime256v1').generateKeys();
      // The Attestation's own members and the JWK's (14) count too. Written in RFC 8785 form (members sorted, freshJson's text canonical), so REPORTDATA is hashed without parsing it here.
      const pubkey = `{"alg":"ECDH-ES+A256KW","crv":"P-256","ext":${freshJson(paddingBytes, 60, MAX_JSON_MEMBERS - 14)},"kty":"EC","x":"${b64u(point.subarray(1, 33))}","y":"${b64u(point.subarray(33))}"}`;
      const digest = createHash('sha384').update(`{"additional-evidence":"","nonce":${JSON.stringify(nonce)},"tee-pubkey":${pubkey}}`).digest();
      const quote = sgxQuote(digest);
      const body = `{"init-data":null,"runtime-data":{"nonce":${JSON.stringify(nonce)},"tee-pubkey":${pubkey}},"tee-evidence":{"primary_evidence":{"quote":"${quote.toString('base64')}"},"additional_evidence":""}}`;
      return { cookie: a.cookie!, body };
    };
    const sessions: Array<{ cookie: string; body: string }> = [];
    for (let i = 0; i <= REPS; i++) sessions.push(await kbsAttestOnce());
    let next = 0;
    await measure('POST /kbs/v0/attest', `tee-pubkey with ${(paddingBytes / 1024).toFixed(0)} KiB of extra members (${MAX_JSON_MEMBERS.toLocaleString('en')}, keys new on every request) 60 levels deep: JCS + SHA-384 of it`, async () => {
      const s = sessions[next++ % sessions.length]!;
      cookie = s.cookie;
      return call(svc.url, 'POST', '/kbs/v0/attest', s.body, { cookie: s.cookie });
    });
    await call(svc.url, 'PUT', '/admin/secrets/default/key/big', JSON.stringify({ value: secretValue, releasePolicy }), admin);
    await measure('GET /kbs/v0/resource', `${MAX_SECRET_BYTES / 1024} KiB secret to that session (its token verified; the token holds the key's public members only)`, () => call(svc.url, 'GET', '/kbs/v0/resource/default/key/big', undefined, { cookie }));

    // ---- administration
    // 7 members per authority: as many as MAX_JSON_MEMBERS admits.
    const authorities = Math.floor((MAX_JSON_MEMBERS - 10) / 7);
    const bigRelease = { version: '1.0.0', anyOf: Array.from({ length: authorities }, (_, i) => ({ authority: svc.issuer, allOf: [{ claim: `c${i}`, equals: 'x'.repeat(100) }, { anyOf: [{ claim: 'x-ms-sgx-svn', equals: i }] }] })) };
    const secretBody = JSON.stringify({ value: secretValue, releasePolicy: bigRelease });
    await measure('PUT /admin/secrets/*', `${MAX_SECRET_BYTES / 1024} KiB value, release policy of ${(JSON.stringify(bigRelease).length / 1024).toFixed(0)} KiB (${authorities.toLocaleString('en')} authorities)`, () => call(svc.url, 'PUT', '/admin/secrets/default/key/worst', secretBody, admin));
    await measure('GET /admin/secrets', '500 secrets stored', () => call(svc.url, 'GET', '/admin/secrets', undefined, admin));
    await measure('GET /admin/secrets/*', `the secret with the ${authorities.toLocaleString('en')}-authority policy`, () => call(svc.url, 'GET', '/admin/secrets/default/key/worst', undefined, admin));
    await measure('POST /admin/signing-keys/rotate', 'RSA-2048 key generated (thread pool) and stored', () => call(svc.url, 'POST', '/admin/signing-keys/rotate', '{"activateAfterSeconds":0}', admin));
    await measure('GET /admin/signing-keys', '40+ keys', () => call(svc.url, 'GET', '/admin/signing-keys', undefined, admin));

    // ---- discovery and ops with that state
    await measure('GET /certs', 'JWKS of 40+ keys', () => call(svc.url, 'GET', '/certs'));
    await measure('GET /.well-known/openid-configuration', '-', () => call(svc.url, 'GET', '/.well-known/openid-configuration'));
    await measure('GET /status', '40+ keys, policies of every type', () => call(svc.url, 'GET', '/status'));
    await measure('GET /metrics', 'after all of the above', () => call(svc.url, 'GET', '/metrics'));
    await measure('GET /healthz', '-', () => call(svc.url, 'GET', '/healthz'));
  } finally {
    await svc.close();
    rmSync(dir, { recursive: true, force: true });
  }

  const over = rows.filter((r) => r.loopCpuMs > LIMIT_MS);
  const markdown = [
    `Each case sent ${REPS} times, one request at a time, over HTTP on 127.0.0.1 to the attestation service (SQLite store, simulated`,
    'platform, real DCAP verifier, rate limit off). "Longest block" is the largest event-loop delay perf_hooks.monitorEventLoopDelay',
    '(1 ms resolution) saw while they ran: the longest stretch the loop could serve nobody else (on a busy machine it also counts',
    'time the OS gave to other processes). "Longest block, loop CPU" is the most main-thread CPU (Linux schedstat) spent between two',
    'ticks of a 1 ms timer: the same block measured in CPU, which load does not inflate (it includes the in-process client\'s share,',
    'small: bodies are pre-built). "Process CPU" is per request, all threads (RSA key generation runs in the thread pool, off the',
    'loop). Limit: 100 ms.',
    '',
    '| endpoint | worst input | status | longest block, loop delay (ms) | longest block, loop CPU (ms) | process CPU per request, mean (ms) |',
    '|---|---|---|---|---|---|',
    ...rows.map((r) => `| \`${r.endpoint}\` | ${r.input} | ${r.status} | ${r.blockMs} | ${r.loopCpuMs}${r.loopCpuMs > LIMIT_MS ? ' **over 100 ms**' : ''} | ${r.cpuMs} |`),
    '',
    over.length === 0 ? `Every case spent under ${LIMIT_MS} ms of loop CPU.` : `Over ${LIMIT_MS} ms of loop CPU: ${over.map((r) => `\`${r.endpoint}\` (${r.loopCpuMs} ms)`).join(', ')}.`,
  ].join('\n');
  return { title: 'Attestation service: worst-case event-loop block per endpoint', markdown };
}
