/**
 * MAA policy engine cost: draft policies (`draftPolicyForAttestation`, which
 * any holder of a verifying quote may send) through the full in-process
 * HTTP pipeline, and parse + evaluate alone. The shapes are the worst cases
 * the limits allow: 50 conditions that all match many claims with the last
 * one failing (exponential under plain backtracking), a 50-condition chain
 * of named conditions, and the costliest join the width limit admits (which
 * the evaluation budget stops with POLICY_EVALUATION_LIMIT).
 */
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SimPlatform } from '../src/sim/index.js';
import { assembleAttestationService } from '../src/service/server.js';
import { evaluatePolicy, parsePolicy, type Claim } from '../src/service/policy/index.js';
import { POLICY_LIMITS } from '../src/service/policy/limits.js';

const ITERATIONS = Number(process.env.POLICY_BENCH_ITERATIONS ?? 200);

function stats(samples: number[]): { p50: number; p99: number; max: number } {
  const s = [...samples].sort((a, b) => a - b);
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
  return { p50: at(0.5), p99: at(0.99), max: s[s.length - 1]! };
}

const svc = (type: string, value: string | number | boolean): Claim => ({
  type,
  value,
  valueType: typeof value === 'boolean' ? 'Boolean' : typeof value === 'number' ? 'Integer' : 'String',
  issuer: 'AttestationService',
});

/** The claim types the simulated quote yields, each usable as a condition that matches. */
const MATCHING = ['x-ms-sgx-is-debuggable', 'x-ms-sgx-mrsigner', 'x-ms-sgx-mrenclave', 'x-ms-sgx-product-id', 'x-ms-sgx-svn', 'x-ms-attestation-type', 'x-ms-ver', 'x-kube-sgx-tcb-status'];

const SHAPES: Array<{ name: string; text: string }> = [
  {
    name: '50 conditions, all match, => permit()',
    text: `version=1.0; authorizationrules { ${Array.from({ length: 50 }, (_, i) => `[type=="${MATCHING[i % MATCHING.length]!}"]`).join(' && ')} => permit(); };`,
  },
  {
    name: '50 conditions, 49 match any of 8 claims, last fails',
    text: `version=1.0; authorizationrules { => permit(); ${Array.from({ length: 49 }, () => '[issuer=="AttestationService"]').join(' && ')} && [type=="x-ms-sgx-svn", value==-1] => deny(); };`,
  },
  {
    name: '50 named conditions chained by value!=, last join fails',
    text: `version=1.0; authorizationrules { => permit(); c0:[issuer=="AttestationService"] && ${Array.from({ length: 48 }, (_, i) => `c${i + 1}:[issuer=="AttestationService", value!=c${i}.value]`).join(' && ')} && [type=="x-ms-sgx-svn", value<c48.value, value>c48.value] => deny(); };`,
  },
];

/** Policy 1.2 over JSON runtime data: each rule filters the 1,000 items again (JSON parsed once per evaluation). */
const POLICY_1_2 = `version=1.2;
authorizationrules {
${Array.from({ length: 20 }, (_, i) => `  c:[type=="x-ms-runtime"] => add(type="n${i}", value=JsonToClaimValue(JmesPath(c.value, "length(items[?kind == 'seven' && id > \`${i}\`])")));`).join('\n')}
  [type=="n19", value==140] => permit();
};`;

const WORST_JOIN = `version=1.2;
authorizationrules {
  c:[type=="x-ms-runtime"] => add(type="id", value=JsonToClaimValue(JmesPath(c.value, "items[*].id")));
  a:[type=="id"] && b:[type=="id"] && [type=="id", value!=a.value] && [type=="x-ms-sgx-svn", value<b.value, value>b.value] => permit();
};`;
const WORST_COPY = `version=1.2;
authorizationrules {
  => permit();
${Array.from({ length: 250 }, (_, i) => `  c:[type=="x-ms-runtime"] => add(type="copy${i}", value=JmesPath(c.value, "[@, @]"));`).join('\n')}
};`;

/** 60 claims of one type: the widest join the limits admit, over the most claims of one type a quote yields today and then some. */
const JOIN_CLAIMS: Claim[] = [svc('x-ms-sgx-svn', 3), ...Array.from({ length: 60 }, (_, i) => svc('x-kube-sgx-advisory-ids', `INTEL-SA-${String(i).padStart(5, '0')}`))];
const JOIN_POLICY = `version=1.0; authorizationrules {
  a:[type=="x-kube-sgx-advisory-ids"] && b:[type=="x-kube-sgx-advisory-ids"] && [type=="x-kube-sgx-advisory-ids", value!=a.value] && [type=="x-ms-sgx-svn", value==b.value] => permit(); };`;

export default async function bench(): Promise<{ title: string; markdown: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-bench-policy-'));
  try {
    const platform = await SimPlatform.open(join(dir, 'platform'), { seed: 'bench' });
    const report = platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: Buffer.alloc(64), mrEnclave: Buffer.alloc(32, 1), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 1, isvSvn: 2 });
    const quote = Buffer.from(platform.getQuote(report).quote).toString('base64url');
    // A second quote binding ~60 KB of JSON runtime data (SHA-256 in report data), for the 1.2 row.
    const runtime = Buffer.from(JSON.stringify({ items: Array.from({ length: 1000 }, (_, i) => ({ id: i, kind: i % 7 === 0 ? 'seven' : 'other', tags: ['a', 'b'] })) }));
    const rd = Buffer.alloc(64);
    createHash('sha256').update(runtime).digest().copy(rd);
    const runtimeQuote = Buffer.from(platform.getQuote(platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: rd, mrEnclave: Buffer.alloc(32, 1), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 1, isvSvn: 2 })).quote).toString('base64url');
    const runtimeData = { data: runtime.toString('base64url'), dataType: 'JSON' };
    const svcApp = await assembleAttestationService({ simulation: true, platformDir: join(dir, 'platform'), dataDir: join(dir, 'data'), rateLimit: { rate: 0 } }, 'http://bench');
    const rows: string[] = [];
    try {
      const post = (body: string) =>
        svcApp.app.request('/attest/SgxEnclave?api-version=2022-08-01', { method: 'POST', body, headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } });
      const shapes = [
        ...SHAPES.map((x) => ({ ...x, body: JSON.stringify({ quote, draftPolicyForAttestation: x.text }) })),
        { name: `1.2: 20 JmesPath filters over ${(runtime.length / 1024).toFixed(0)} KiB of JSON runtime data (1,000 items)`, body: JSON.stringify({ quote: runtimeQuote, runtimeData, draftPolicyForAttestation: POLICY_1_2 }) },
        // Worst cases the limits allow: each runs into the evaluation budget and is refused (400 policy-evaluation-limit).
        { name: 'worst case: width-2 join over 1,000 claims made from the runtime JSON (budget stops it)', body: JSON.stringify({ quote: runtimeQuote, runtimeData, draftPolicyForAttestation: WORST_JOIN }) },
        { name: 'worst case: 250 rules each building two copies of the runtime JSON, JmesPath(c.value, "[@, @]") (budget stops it)', body: JSON.stringify({ quote: runtimeQuote, runtimeData, draftPolicyForAttestation: WORST_COPY }) },
      ];
      for (const shape of shapes) {
        const body = shape.body;
        let status = 0;
        for (let i = 0; i < 20; i++) status = (await post(body)).status;
        const wall: number[] = [];
        const cpu: number[] = [];
        for (let i = 0; i < ITERATIONS; i++) {
          const c0 = process.cpuUsage();
          const t0 = performance.now();
          status = (await post(body)).status;
          wall.push(performance.now() - t0);
          const c = process.cpuUsage(c0);
          cpu.push((c.user + c.system) / 1000);
        }
        const w = stats(wall);
        const c = stats(cpu);
        rows.push(`| HTTP draft: ${shape.name} | ${status} | ${w.p50.toFixed(2)} | ${w.p99.toFixed(2)} | ${w.max.toFixed(2)} | ${c.p50.toFixed(2)} | ${c.max.toFixed(2)} |`);
      }
      // Parse + evaluate only, the widest join over 60 same-type claims (the budget stops it).
      const parsed = parsePolicy(JOIN_POLICY);
      const wall: number[] = [];
      let outcome = '';
      for (let i = 0; i < Math.max(20, ITERATIONS / 4); i++) {
        const t0 = performance.now();
        try {
          outcome = evaluatePolicy(parsed, JOIN_CLAIMS).permitted ? 'permitted' : 'denied';
        } catch (e) {
          outcome = (e as { code?: string }).code ?? 'error';
        }
        wall.push(performance.now() - t0);
      }
      const w = stats(wall);
      rows.push(`| in-process evaluate: join of width 2 over 60 claims of one type | ${outcome} | ${w.p50.toFixed(2)} | ${w.p99.toFixed(2)} | ${w.max.toFixed(2)} | – | – |`);
    } finally {
      await svcApp.dispose();
    }
    const markdown = `Draft policies posted with a simulated quote to \`POST /attest/SgxEnclave?api-version=2022-08-01\` of the in-process
app (\`app.request\`, no sockets: verification, policy parse and evaluation, unsigned token), ${ITERATIONS} requests per row after
20 warm-up requests; "CPU" is this process's user + system time per request. The evaluation budget is
${POLICY_LIMITS.maxEvaluationSteps} claim comparisons; a rule may hold at most ${POLICY_LIMITS.maxJoinWidth} named claims at once.
Target (issue 15): a draft policy with 50 conditions answers within 50 ms.

| case | status / outcome | p50 ms | p99 ms | max ms | CPU p50 ms | CPU max ms |
|---|---|---|---|---|---|---|
${rows.join('\n')}
`;
    return { title: 'MAA policy engine (draft policies, worst shapes within the limits)', markdown };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
