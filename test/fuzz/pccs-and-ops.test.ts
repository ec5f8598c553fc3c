/**
 * Issue 15 §5: HTTP fuzz of the simulator's collateral server
 * (`kube-sgx sim pccs`) and of the node agent's ops server (/healthz,
 * /readyz, /metrics, /status), over raw HTTP/1.1 on 127.0.0.1. Every route
 * with its query mutated (FMSPC, CA and encoding junk), paths, methods,
 * headers and framing. Asserted for each: an answer below 500 in the
 * documented shape (the PCCS and the ops server answer errors as
 * text/plain), bounded CPU; and the servers healthy after.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { SimPlatform, startSimPccs, type SimPccs } from '../../src/sim/index.js';
import { startNodeAgent, type NodeAgent } from '../../src/nodeagent/agent.js';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { ENCLAVE_RESOURCE } from '../../src/names.js';
import { makeFakeHost, removeDir, tempDir, MiB } from '../node/fake-host.js';
import { tempDir as simTempDir } from '../sim/helpers.js';
import { CPU_BOUND_MS, CostLog, checkProperty, contentTypeArb, describeRequest, framingArb, junkBodyArb, junkHeadersArb, loopMonitor, methodArb, pathArb, send, type RawAnswer, type RawRequest } from './harness.js';

/** The answer's checks shared by both servers: never 5xx, errors as text/plain (or Node's bodiless framing refusal), CPU bound. */
function check(a: RawAnswer, r: RawRequest, costs: CostLog): void {
  const what = describeRequest(r);
  costs.note(what, a.cpuMs);
  if (a.status === undefined) assert.ok(r.framing === 'declared-longer' || r.framing === 'chunked-broken', `${what}: closed without an answer`);
  else {
    assert.ok(a.status < 500, `${what}: HTTP ${a.status} ${a.body.slice(0, 300)}`);
    if (a.status >= 400 && r.method !== 'HEAD') {
      if (a.body === '') assert.ok([400, 408, 413, 417, 431].includes(a.status) && a.headers['content-type'] === undefined, `${what}: HTTP ${a.status} with an empty body`);
      else assert.match(a.headers['content-type'] ?? '', /^text\/plain/, `${what}: HTTP ${a.status} ${JSON.stringify(a.headers)}`);
    }
  }
  assert.ok(a.cpuMs < CPU_BOUND_MS, `${what}: ${a.cpuMs} ms of CPU`);
}

function requestArb(paths: readonly string[], methods: readonly string[]): fc.Arbitrary<RawRequest> {
  return fc
    .record({
      method: methodArb(methods),
      target: pathArb(paths),
      body: fc.oneof({ weight: 5, arbitrary: fc.constant(Buffer.alloc(0)) }, { weight: 1, arbitrary: junkBodyArb }),
      framing: framingArb,
      contentType: fc.option(contentTypeArb, { nil: undefined }),
      junk: junkHeadersArb,
    })
    .map(({ method, target, body, framing, contentType, junk }) => ({ method, target, body, framing, headers: [...(contentType !== undefined ? [['content-type', contentType] as [string, string]] : []), ...junk] }));
}

describe('simulated PCCS HTTP fuzz (issue 15 §5)', () => {
  const tmp = simTempDir();
  let platform: SimPlatform;
  let pccs: SimPccs;
  before(async () => {
    platform = await SimPlatform.open(join(tmp.dir, 'p'), { seed: 'pccs-fuzz' });
    pccs = await startSimPccs({ platform, listen: '127.0.0.1:0' });
  });
  after(async () => {
    await pccs.close();
    tmp.cleanup();
  });

  test('every PCS v4 path with mutated queries: never 5xx, text/plain errors, bounded CPU, healthy after', async (t) => {
    const V4 = '/sgx/certification/v4';
    const fmspc = fc.oneof(fc.constant(platform.fmspc), fc.constant(platform.fmspc.toLowerCase()), fc.constantFrom('', '00906ED50000', '%ZZ', 'zzzzzzzzzzzz', '0'.repeat(5000), '00906ED5000%00'), fc.stringMatching(/^[0-9a-fA-F]{0,14}$/));
    const query = fc.oneof(
      fmspc.map((f) => `${V4}/tcb?fmspc=${f}`),
      fc.tuple(fc.constantFrom('processor', 'platform', '', 'PROCESSOR', '%C0%AF'), fc.constantFrom('', '&encoding=der', '&encoding=pem', '&encoding=x', '&encoding=der&encoding=pem')).map(([ca, enc]) => `${V4}/pckcrl?ca=${ca}${enc}`),
      fc.constantFrom(`${V4}/qe/identity`, `${V4}/rootcacrl`, '/IntelSGXRootCA.der', `${V4}/pckcert?encrypted_ppid=00&cpusvn=00&pcesvn=0000&pceid=0000`, `${V4}/tcb?fmspc=${platform.fmspc}&fmspc=000000000000`, `${V4}/tcb`, `${V4}/pckcrl`),
    );
    const costs = new CostLog();
    const loop = loopMonitor();
    await checkProperty(
      fc.asyncProperty(
        query.chain((q) => requestArb([q], ['GET', 'HEAD'])),
        async (r) => check(await send(pccs.url, r), r, costs),
      ),
      1500,
    );
    const l = loop.stop();
    t.diagnostic(`${costs}; event-loop delay max ${l.maxMs} ms (includes OS scheduling on a loaded machine)`);
    const tcb = await fetch(`${pccs.url}${V4}/tcb?fmspc=${platform.fmspc}`);
    assert.equal(tcb.status, 200);
    assert.equal(await tcb.text(), `{"tcbInfo":${platform.collateral().tcb_info},"signature":"${platform.collateral().tcb_info_signature}"}`);
  });
});

describe('node agent ops server HTTP fuzz (issue 15 §5)', () => {
  let root: string;
  let kubelet: KubeletStandIn;
  let agent: NodeAgent;
  before(async () => {
    root = await tempDir();
    await makeFakeHost(join(root, 'h'), { epc: { 0: 64 * MiB }, devices: ['dev/sgx_enclave', 'dev/sgx_provision'], aesmd: true });
    await mkdir(join(root, 'k'));
    kubelet = await KubeletStandIn.start({ dir: join(root, 'k') });
    agent = await startNodeAgent({ hostRoot: join(root, 'h'), kubeletDir: join(root, 'k'), nodeUpdate: false, resources: [ENCLAVE_RESOURCE], metricsAddr: '127.0.0.1:0', pollMs: 100, discoveryIntervalMs: 100 });
    await kubelet.waitFor(() => (kubelet.resource(ENCLAVE_RESOURCE)?.messages ?? 0) > 0, 20_000, 'registration');
  });
  after(async () => {
    await agent.stop();
    await kubelet.stop();
    await removeDir(root);
  });

  test('/healthz /readyz /metrics /status mutated: never 5xx, text/plain errors, bounded CPU, healthy after', async (t) => {
    const url = agent.opsUrl!;
    assert.deepEqual(agent.ready(), { ready: true });
    const costs = new CostLog();
    const loop = loopMonitor();
    await checkProperty(
      fc.asyncProperty(requestArb(['/healthz', '/readyz', '/metrics', '/status', '/'], ['GET', 'HEAD']), async (r) => check(await send(url, r), r, costs)),
      1500,
    );
    const l = loop.stop();
    t.diagnostic(`${costs}; event-loop delay max ${l.maxMs} ms (includes OS scheduling on a loaded machine)`);
    assert.equal((await fetch(`${url}/healthz`)).status, 200);
    assert.equal((await fetch(`${url}/readyz`)).status, 200);
    const st = (await (await fetch(`${url}/status`)).json()) as { sgx: { available: boolean } };
    assert.equal(st.sgx.available, true);
  });
});
