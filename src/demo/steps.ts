/**
 * The demo steps (the TDX step is in tdx-step.ts). Each uses the components' real APIs over real sockets
 * and HTTP (nothing mocked; only the CPU's EREPORT and the platform's keys are
 * simulated), checks what it claims, and registers cleanups for what it starts.
 */
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { importX509, jwtVerify, type JWTPayload } from 'jose';
import { KubeSgxError } from '../errors.js';
import type { Logger } from '../ops/log.js';
import { parseQuote, QUOTE_BODY_TYPE } from '../sgx/index.js';
import { SimPlatform } from '../sim/index.js';
import { discoverSgx, sgxUsable, type SgxInventory } from '../node/index.js';
import type { AllocateResponseMsg } from '../deviceplugin/index.js';
import { startNodeAgent, type NodeAgent } from '../nodeagent/index.js';
import { AESMD_SOCKET_DIR, AESMD_SOCKET_PATH, AESM_ADDR_ENV, ENCLAVE_RESOURCE, EPC_RESOURCE, LEGACY_EPC_RESOURCE, PROVISION_RESOURCE, QUOTE_PROVIDER_ANNOTATION, SGX_DEVICE_PATHS } from '../names.js';
import { KubeletStandIn } from './kubelet-stand-in.js';
import { startQuoteHelper, AesmClient, INTEL_ECDSA_ATT_KEY_ID, type QuoteHelper } from '../quotehelper/index.js';
import { mutatePod, validatePod, parseWebhookConfig } from '../webhook/index.js';
import { startAttestationService, requestSecret, type RunningAttestationService } from '../service/index.js';
import { createSimulatedHost, MiB } from './host.js';
import { applyJsonPatch } from './jsonpatch.js';
import { buildDemoEnclave, DemoEnclaveApp, quotingPlatform, reportDataFor, type DemoEnclaveIdentity } from './enclave.js';
import { expect, type Cleanups, type DemoStep } from './runner.js';
import { tdxStep } from './tdx-step.js';

const DEMO_EPC_MIB = 10;
/** Admin token of the demo's attestation service (which lives only as long as the demo). */
export const DEMO_ADMIN_TOKEN = randomBytes(24).toString('hex');

export interface DemoContext {
  mode: 'simulation' | 'hardware';
  tempDir: string;
  cleanups: Cleanups;
  logger: Logger;
  /** Host root the node agent reads: a temp tree in simulation, / on hardware. */
  hostRoot: string;
  kubeletDir: string;
  platformDir: string;
  aesmSocket: string;
  platform?: SimPlatform;
  inventory?: SgxInventory;
  kubelet?: KubeletStandIn;
  agent?: NodeAgent;
  helper?: QuoteHelper;
  app?: DemoEnclaveApp;
  identity?: DemoEnclaveIdentity;
  service?: RunningAttestationService;
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

export function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new KubeSgxError('DEMO_STEP_ORDER', `${what} is missing: an earlier step did not run`);
  return v;
}

// ---------------------------------------------------------------- 1. node

export const simulatedNodeStep: DemoStep<DemoContext> = {
  id: 'sgx-node',
  title: 'Simulated SGX node',
  async run(ctx) {
    const epcTotal = await createSimulatedHost(ctx.hostRoot);
    ctx.platform = await SimPlatform.open(ctx.platformDir);
    const inv = await discoverSgx(ctx.hostRoot);
    ctx.inventory = inv;
    expect(sgxUsable(inv), 'DEMO_NO_SGX', `discovery does not see SGX in the simulated host: ${inv.reasons.join('; ')}`);
    expect(inv.epcBytes === epcTotal, 'DEMO_EPC_MISMATCH', `discovery found ${inv.epcBytes} bytes of EPC, the host has ${epcTotal}`);
    return {
      proved: `node discovery sees SGX with FLC, ${inv.epcBytes / MiB} MiB of EPC on NUMA nodes ${inv.epcByNuma.map((n) => n.node).join(' and ')}, ${inv.enclaveDevice} and ${String(inv.provisionDevice)}; a simulated SGX platform (root CA, PCK chain, QE) with TCB scenario ${ctx.platform.scenario}`,
      details: { hostRoot: ctx.hostRoot, epcBytes: inv.epcBytes, epcByNuma: inv.epcByNuma, enclaveDevices: inv.enclaveDevices, provisionDevices: inv.provisionDevices, platformDir: ctx.platformDir, fmspc: ctx.platform.fmspc, scenario: ctx.platform.scenario },
    };
  },
};

export const hardwareNodeStep: DemoStep<DemoContext> = {
  id: 'sgx-node',
  title: 'SGX on this machine',
  async run(ctx) {
    const inv = await discoverSgx(ctx.hostRoot);
    ctx.inventory = inv;
    expect(sgxUsable(inv), 'DEMO_NO_SGX', `this machine has no usable SGX (--hardware needs an SGX node): ${inv.reasons.join('; ') || 'unknown reason'}`);
    return {
      proved: `SGX ${inv.cpuFlc ? 'with' : 'without'} FLC, ${Math.round(inv.epcBytes / MiB)} MiB of EPC, ${inv.enclaveDevice}${inv.provisionDevice ? ` and ${inv.provisionDevice}` : ''}`,
      details: { epcBytes: inv.epcBytes, epcByNuma: inv.epcByNuma, enclaveDevices: inv.enclaveDevices, provisionDevices: inv.provisionDevices, reasons: inv.reasons },
    };
  },
};

// ---------------------------------------------------------------- 2. node agent + kubelet

function containerResponse(r: AllocateResponseMsg, what: string) {
  const c = r.container_responses[0];
  expect(c !== undefined, 'DEMO_ALLOCATE_EMPTY', `Allocate for ${what} returned no container response`);
  return c;
}

/** The pod an application team writes: only how much EPC it needs. */
export function demoPod(): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: 'enclave-app-', namespace: 'default', annotations: { [QUOTE_PROVIDER_ANNOTATION]: 'aesmd' } },
    spec: { containers: [{ name: 'app', image: 'enclave-app:1.0', resources: { limits: { [EPC_RESOURCE]: `${DEMO_EPC_MIB}Mi` } } }] },
  };
}

export const nodeAgentStep: DemoStep<DemoContext> = {
  id: 'node-agent',
  title: 'Node agent registers with the kubelet; a pod gets 10 MiB of EPC',
  async run(ctx) {
    const kubelet = await KubeletStandIn.start({ dir: ctx.kubeletDir });
    ctx.cleanups.add('kubelet stand-in', () => kubelet.stop());
    ctx.kubelet = kubelet;
    const agent = await startNodeAgent({ hostRoot: ctx.hostRoot, kubeletDir: ctx.kubeletDir, nodeUpdate: false, logger: ctx.logger, discoveryIntervalMs: 60_000 });
    ctx.cleanups.add('node agent', () => agent.stop());
    ctx.agent = agent;

    // What the kubelet does: accept Register, dial back, open ListAndWatch.
    const resources = [LEGACY_EPC_RESOURCE, ENCLAVE_RESOURCE, PROVISION_RESOURCE];
    await kubelet.waitFor(() => resources.every((r) => (kubelet.resource(r)?.messages ?? 0) > 0), 10_000, 'registration and a first ListAndWatch of every SGX resource');
    const epc = kubelet.resource(LEGACY_EPC_RESOURCE)!;
    const slots = kubelet.resource(ENCLAVE_RESOURCE)!;
    const numa = new Set(epc.devices.map((d) => d.topology?.nodes?.[0]?.ID ?? 0));

    // The application team's pod goes through the admission webhook (in process here).
    const config = parseWebhookConfig({ epcResourceNames: [EPC_RESOURCE, LEGACY_EPC_RESOURCE] });
    const pod = demoPod();
    const patch = mutatePod(pod, config);
    const mutated = applyJsonPatch(pod, patch) as { spec: { containers: { resources: { limits: Record<string, string> } }[] } };
    const limits = mutated.spec.containers[0].resources.limits;
    const verdict = validatePod(mutated, config);
    expect(verdict.allowed, 'DEMO_POD_DENIED', `the webhook denied the demo pod: ${verdict.message}`);
    expect(limits[LEGACY_EPC_RESOURCE] === String(DEMO_EPC_MIB) && limits[ENCLAVE_RESOURCE] === '1', 'DEMO_POD_NOT_MUTATED', `the webhook did not add ${LEGACY_EPC_RESOURCE}=${DEMO_EPC_MIB} and ${ENCLAVE_RESOURCE}=1: ${JSON.stringify(limits)}`);

    // Admission on the node: the kubelet picks healthy devices and calls Allocate once per resource.
    const epcIds = epc.devices.filter((d) => d.health === 'Healthy').slice(0, DEMO_EPC_MIB).map((d) => d.ID);
    expect(epcIds.length === DEMO_EPC_MIB, 'DEMO_EPC_SHORT', `only ${epcIds.length} healthy EPC units advertised`);
    const epcAlloc = containerResponse(await kubelet.allocate(LEGACY_EPC_RESOURCE, epcIds), LEGACY_EPC_RESOURCE);
    const slotId = slots.devices.find((d) => d.health === 'Healthy')?.ID;
    expect(slotId !== undefined, 'DEMO_NO_SLOT', 'no healthy enclave slot advertised');
    const slotAlloc = containerResponse(await kubelet.allocate(ENCLAVE_RESOURCE, [slotId]), ENCLAVE_RESOURCE);
    const devices = [...epcAlloc.devices, ...slotAlloc.devices];
    const hostPaths = [...new Set(devices.map((d) => d.host_path))];
    const expectedHost = ctx.mode === 'simulation' ? SGX_DEVICE_PATHS.enclave[0] : need(ctx.inventory, 'inventory').enclaveDevice;
    expect(hostPaths.includes(String(expectedHost)), 'DEMO_NO_DEVICE', `Allocate did not hand over ${String(expectedHost)}: ${JSON.stringify(devices)}`);
    expect(hostPaths.every((p) => !p.startsWith(ctx.hostRoot === '/' ? '\0' : ctx.hostRoot)), 'DEMO_HOST_ROOT_LEAK', `a DeviceSpec names the host-root copy instead of the real host path: ${hostPaths.join(', ')}`);
    expect(!devices.some((d) => /provision/.test(d.host_path)), 'DEMO_PROVISION_LEAK', 'the provision device was handed to a pod that did not ask for it');
    return {
      proved: `the kubelet stand-in received Register for ${resources.length} resources and ListAndWatch with ${epc.devices.length} EPC units (1 MiB each, NUMA ${[...numa].join(',')}) and ${slots.devices.length} enclave slots; the webhook turned "${EPC_RESOURCE}: ${DEMO_EPC_MIB}Mi" into ${DEMO_EPC_MIB} EPC units + 1 enclave slot; Allocate handed the pod ${devices.map((d) => `${d.host_path}→${d.container_path}`).filter((v, i, a) => a.indexOf(v) === i).join(', ')}`,
      details: {
        registrations: kubelet.registrations.map((r) => ({ resource: r.resourceName, endpoint: r.endpoint })),
        advertised: { [LEGACY_EPC_RESOURCE]: epc.devices.length, [ENCLAVE_RESOURCE]: slots.devices.length, [PROVISION_RESOURCE]: kubelet.resource(PROVISION_RESOURCE)!.devices.length },
        firstListAndWatchMs: epc.firstMessageMs,
        webhookPatch: patch,
        allocatedEpcUnits: epcIds,
        deviceSpecs: devices,
      },
    };
  },
};

// ---------------------------------------------------------------- 3. quote helper

export const quoteHelperStep: DemoStep<DemoContext> = {
  id: 'quote-helper',
  title: 'Quote helper serves the aesmd socket',
  async run(ctx) {
    const helper =
      ctx.mode === 'simulation'
        ? await startQuoteHelper({ socketPath: ctx.aesmSocket, backend: 'sim', simPlatform: quotingPlatform(need(ctx.platform, 'simulated platform')), platformDir: ctx.platformDir, logger: ctx.logger })
        : await startQuoteHelper({ socketPath: ctx.aesmSocket, backend: 'dcap', logger: ctx.logger });
    ctx.cleanups.add('quote helper', () => helper.stop());
    ctx.helper = helper;
    const client = new AesmClient({ socketPath: ctx.aesmSocket, timeoutMs: 10_000 });
    const keyIds = await client.getSupportedAttKeyIds();
    expect(keyIds.some((k) => k.equals(INTEL_ECDSA_ATT_KEY_ID)), 'DEMO_NO_ECDSA_KEY', 'the quote helper does not offer Intel\'s ECDSA attestation key ID');
    const quoteSize = await client.getQuoteSizeEx();

    // The node agent sees the socket and wires it into SGX containers.
    let wired = 'the node agent was not asked (hardware mode uses a socket outside the host root)';
    if (ctx.mode === 'simulation') {
      const agent = need(ctx.agent, 'node agent');
      const kubelet = need(ctx.kubelet, 'kubelet');
      await agent.rediscover();
      expect(agent.inventory()?.aesmdSocket !== null, 'DEMO_AESMD_UNSEEN', 'the node agent does not see the aesmd socket');
      const slot = kubelet.resource(ENCLAVE_RESOURCE)!.devices.find((d) => d.health === 'Healthy')!.ID;
      const c = containerResponse(await kubelet.allocate(ENCLAVE_RESOURCE, [slot]), ENCLAVE_RESOURCE);
      expect(c.envs[AESM_ADDR_ENV] === '1', 'DEMO_NO_AESM_ENV', `Allocate does not set ${AESM_ADDR_ENV}=1: ${JSON.stringify(c.envs)}`);
      expect(c.mounts.some((m) => m.container_path === AESMD_SOCKET_DIR && m.host_path === AESMD_SOCKET_DIR), 'DEMO_NO_AESM_MOUNT', `Allocate does not mount ${AESMD_SOCKET_DIR}: ${JSON.stringify(c.mounts)}`);
      wired = `the node agent now adds ${AESM_ADDR_ENV}=1 and the ${AESMD_SOCKET_DIR} mount to SGX containers`;
    }
    return {
      proved: `an aesmd-compatible server (${helper.backend.name} backend${helper.backend.simulated ? ', simulated' : ''}) answers on ${ctx.aesmSocket} with Intel's ECDSA P-256 key ID and ${quoteSize}-byte quotes; ${wired}`,
      details: { socket: ctx.aesmSocket, backend: helper.backend.describe(), attestationKeyIds: keyIds.map(hex), quoteSize },
    };
  },
};

// ---------------------------------------------------------------- 4. enclave app

export const RUNTIME_DATA = Buffer.from(JSON.stringify({ app: 'kube-sgx-demo', purpose: 'bound into REPORTDATA as SHA-256' }));

export const enclaveAppStep: DemoStep<DemoContext> = {
  id: 'enclave-app',
  title: 'Enclave app gets a quote over the aesmd socket',
  async run(ctx) {
    const identity = buildDemoEnclave('kube-sgx demo enclave: hello from inside');
    ctx.identity = identity;
    const app = new DemoEnclaveApp(ctx.aesmSocket, need(ctx.platform, 'simulated platform'), identity);
    ctx.app = app;
    const reportData = reportDataFor(RUNTIME_DATA);
    const { targetInfo, report, quote } = await app.quote(reportData);
    const parsed = parseQuote(quote);
    expect(parsed.body.type === QUOTE_BODY_TYPE.SGX, 'DEMO_QUOTE_TYPE', 'the quote is not an SGX quote');
    const body = parsed.body.sgx;
    expect(Buffer.from(body.mrEnclave).equals(identity.mrEnclave), 'DEMO_QUOTE_MRENCLAVE', 'the quote does not carry the enclave\'s MRENCLAVE');
    expect(Buffer.from(body.reportData).equals(reportData), 'DEMO_QUOTE_REPORTDATA', 'the quote does not carry the enclave\'s report data');

    // The QE checks the report's MAC: one changed byte and the quote is refused.
    const tampered = Buffer.from(report);
    tampered[64] ^= 0x01; // a byte of MRENCLAVE
    let refused = '';
    try {
      await app.client.getQuote(tampered);
    } catch (e) {
      refused = e instanceof KubeSgxError ? e.code : String(e);
    }
    expect(refused !== '', 'DEMO_TAMPER_ACCEPTED', 'the quoting enclave accepted a report with a changed byte');
    return {
      proved: `InitQuoteEx returned the QE's ${targetInfo.length}-byte target info; a report for MRENCLAVE ${hex(identity.mrEnclave).slice(0, 16)}… (measured from its pages, MRSIGNER from its SIGSTRUCT key) became a ${quote.length}-byte v${parsed.header.version} ECDSA quote carrying that MRENCLAVE and SHA-256(runtime data); a report with one changed byte was refused (${refused})`,
      details: { mrEnclave: hex(identity.mrEnclave), mrSigner: hex(identity.mrSigner), isvProdId: identity.isvProdId, isvSvn: identity.isvSvn, quoteBytes: quote.length, quoteVersion: parsed.header.version, tamperedReport: refused },
    };
  },
};

/** Hardware mode: only the QE side can run; making a report needs an enclave, which JavaScript cannot be. */
export const hardwareTargetInfoStep: DemoStep<DemoContext> = {
  id: 'qe-target-info',
  title: 'Real quoting enclave answers over the aesmd socket',
  async run(ctx) {
    const client = new AesmClient({ socketPath: ctx.aesmSocket, timeoutMs: 30_000 });
    const targetInfo = await client.targetInfo();
    expect(targetInfo.length === 512 && targetInfo.some((b) => b !== 0), 'DEMO_BAD_TARGET_INFO', 'the QE returned an empty target info');
    return {
      proved: `Intel's QE3 (through libsgx_dcap_ql) returned its target info (MRENCLAVE ${hex(targetInfo.subarray(0, 32)).slice(0, 16)}…); an enclave app pointed at ${ctx.aesmSocket} with ${AESM_ADDR_ENV}=1 can now get quotes`,
      details: { qeMrEnclave: hex(targetInfo.subarray(0, 32)) },
    };
  },
};

// ---------------------------------------------------------------- 5. attestation

export async function verifyToken(token: string, service: RunningAttestationService): Promise<{ claims: JWTPayload; kid: string }> {
  const res = await fetch(`${service.url}/certs`);
  expect(res.ok, 'DEMO_CERTS', `GET /certs answered ${res.status}`);
  const jwks = (await res.json()) as { keys?: { kid?: string; x5c?: string[] }[] };
  const header = JSON.parse(Buffer.from(token.split('.')[0], 'base64url').toString('utf8')) as { kid?: string; alg?: string; jku?: string };
  expect(header.alg === 'RS256', 'DEMO_TOKEN_ALG', `token alg is ${String(header.alg)}, expected RS256`);
  const jwk = jwks.keys?.find((k) => k.kid === header.kid);
  expect(jwk?.x5c?.[0] !== undefined, 'DEMO_TOKEN_KID', `no key ${String(header.kid)} with x5c in /certs`);
  const pem = `-----BEGIN CERTIFICATE-----\n${jwk.x5c[0].match(/.{1,64}/g)!.join('\n')}\n-----END CERTIFICATE-----\n`;
  const key = await importX509(pem, 'RS256');
  const { payload } = await jwtVerify(token, key, { issuer: service.issuer, algorithms: ['RS256'] });
  return { claims: payload, kid: String(header.kid) };
}

export const attestationStep: DemoStep<DemoContext> = {
  id: 'attestation',
  title: 'Attestation service issues a token the demo verifies',
  async run(ctx) {
    const service = await startAttestationService({
      listen: '127.0.0.1:0',
      simulation: true,
      platformDir: ctx.platformDir,
      adminToken: DEMO_ADMIN_TOKEN,
      kek: randomBytes(32),
      logger: ctx.logger,
      rateLimit: { rate: 0 },
    });
    ctx.cleanups.add('attestation service', () => service.close());
    ctx.service = service;
    const identity = need(ctx.identity, 'enclave identity');
    const app = need(ctx.app, 'enclave app');
    const { quote } = await app.quote(reportDataFor(RUNTIME_DATA));
    const attest = (runtimeData: Buffer) =>
      fetch(`${service.url}/attest/SgxEnclave?api-version=2022-08-01`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ quote: Buffer.from(quote).toString('base64url'), runtimeData: { data: runtimeData.toString('base64url'), dataType: 'Binary' } }),
      });
    const res = await attest(RUNTIME_DATA);
    const body = (await res.json()) as { token?: string; detail?: string; code?: string };
    expect(res.status === 200 && typeof body.token === 'string', 'DEMO_ATTEST_FAILED', `POST /attest/SgxEnclave answered ${res.status}: ${body.code ?? ''} ${body.detail ?? JSON.stringify(body).slice(0, 300)}`);
    const { claims, kid } = await verifyToken(body.token, service);
    const c = claims as Record<string, unknown>;
    expect(c['x-ms-sgx-mrenclave'] === hex(identity.mrEnclave), 'DEMO_CLAIM_MRENCLAVE', `x-ms-sgx-mrenclave is ${String(c['x-ms-sgx-mrenclave'])}, the enclave's is ${hex(identity.mrEnclave)}`);
    expect(c['x-ms-sgx-mrsigner'] === hex(identity.mrSigner), 'DEMO_CLAIM_MRSIGNER', `x-ms-sgx-mrsigner is ${String(c['x-ms-sgx-mrsigner'])}`);
    expect(c['x-ms-sgx-ehd'] === RUNTIME_DATA.toString('base64url'), 'DEMO_CLAIM_EHD', 'x-ms-sgx-ehd is not the runtime data');
    expect(c['x-kube-sgx-simulated'] === true, 'DEMO_CLAIM_SIMULATED', 'the token does not say x-kube-sgx-simulated: true');
    expect(c['x-ms-sgx-is-debuggable'] === false, 'DEMO_CLAIM_DEBUG', 'the token says the enclave is debuggable');

    // Runtime data that the quote does not bind is refused.
    const forged = await attest(Buffer.from('not what the enclave bound'));
    expect(forged.status >= 400 && forged.status < 500, 'DEMO_BINDING_NOT_CHECKED', `runtime data that does not match REPORTDATA was answered ${forged.status}`);
    const forgedBody = (await forged.json()) as { code?: string; type?: string };
    return {
      proved: `the service (simulation mode) verified the quote's PCK chain up to the simulated root, the QE and the TCB (${String(c['x-kube-sgx-tcb-status'])}), applied the default policy and issued an RS256 token; its signature checks against /certs (kid ${kid.slice(0, 12)}…), and its claims name this enclave's MRENCLAVE and MRSIGNER, the runtime data, and x-kube-sgx-simulated: true; runtime data the quote does not bind was refused (${forged.status} ${forgedBody.code ?? forgedBody.type ?? ''})`,
      details: {
        url: service.url,
        issuer: service.issuer,
        kid,
        claims: pick(c, ['x-ms-attestation-type', 'x-ms-sgx-mrenclave', 'x-ms-sgx-mrsigner', 'x-ms-sgx-product-id', 'x-ms-sgx-svn', 'x-ms-sgx-is-debuggable', 'x-ms-policy-hash', 'x-kube-sgx-tcb-status', 'x-kube-sgx-simulated', 'iss', 'exp']),
        forgedRuntimeData: { status: forged.status, code: forgedBody.code ?? forgedBody.type },
      },
    };
  },
};

function pick(o: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.filter((k) => k in o).map((k) => [k, o[k]]));
}

// ---------------------------------------------------------------- 6. secret release

export const secretReleaseStep: DemoStep<DemoContext> = {
  id: 'secret-release',
  title: 'A secret is released to the enclave and decrypted',
  async run(ctx) {
    const service = need(ctx.service, 'attestation service');
    const identity = need(ctx.identity, 'enclave identity');
    const app = need(ctx.app, 'enclave app');
    const secret = `db-password-${randomBytes(9).toString('base64url')}`;
    const releasePolicy = {
      version: '1.0.0',
      anyOf: [
        {
          authority: service.issuer,
          allOf: [
            { claim: 'x-ms-sgx-mrenclave', equals: hex(identity.mrEnclave) },
            { claim: 'x-ms-sgx-mrsigner', equals: hex(identity.mrSigner) },
            { claim: 'x-ms-sgx-is-debuggable', equals: false },
          ],
        },
      ],
    };
    const put = await fetch(`${service.url}/admin/secrets/demo/db/password`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${DEMO_ADMIN_TOKEN}` },
      body: JSON.stringify({ valueText: secret, releasePolicy }),
    });
    expect(put.status === 201 || put.status === 200, 'DEMO_SECRET_REGISTER', `PUT /admin/secrets answered ${put.status}: ${(await put.text()).slice(0, 300)}`);

    // The KBS flow from inside the enclave: challenge, quote binding nonce + ephemeral key, token, JWE.
    let quotes = 0;
    const released = await requestSecret({
      url: service.url,
      name: 'demo/db/password',
      getQuote: async (reportData) => {
        quotes++;
        return (await app.quote(reportData)).quote;
      },
    });
    const value = Buffer.from(released.value).toString('utf8');
    expect(value === secret, 'DEMO_SECRET_MISMATCH', 'the decrypted secret differs from the registered one');

    // Another enclave (same signer, other code) gets nothing.
    const other = new DemoEnclaveApp(ctx.aesmSocket, need(ctx.platform, 'simulated platform'), { ...identity, mrEnclave: Buffer.alloc(32, 0x42) });
    let denied = '';
    try {
      await requestSecret({ url: service.url, name: 'demo/db/password', getQuote: async (rd) => (await other.quote(rd)).quote });
    } catch (e) {
      denied = e instanceof KubeSgxError ? e.code : String(e);
    }
    expect(denied !== '', 'DEMO_RELEASED_TO_OTHER', 'the secret was released to an enclave with another MRENCLAVE');
    return {
      proved: `the admin registered a secret with a release policy naming this MRENCLAVE; the enclave ran Trustee's KBS flow (session cookie and nonce, ${quotes} quote binding the nonce and an ephemeral P-256 key) and decrypted the JWE to exactly the registered value; an enclave with another MRENCLAVE was refused (${denied})`,
      details: { name: 'demo/db/password', valueLength: secret.length, releasePolicy, otherEnclave: denied },
    };
  },
};

export function stepsFor(mode: 'simulation' | 'hardware'): DemoStep<DemoContext>[] {
  return mode === 'simulation'
    ? [simulatedNodeStep, nodeAgentStep, quoteHelperStep, enclaveAppStep, attestationStep, secretReleaseStep, tdxStep]
    : [hardwareNodeStep, nodeAgentStep, quoteHelperStep, hardwareTargetInfoStep];
}

export function demoPaths(tempDir: string, mode: 'simulation' | 'hardware') {
  const hostRoot = mode === 'simulation' ? join(tempDir, 'host') : '/';
  return {
    hostRoot,
    kubeletDir: join(tempDir, 'kubelet'),
    platformDir: join(tempDir, 'platform'),
    // In simulation the socket sits where the node agent looks for it on the host.
    aesmSocket: mode === 'simulation' ? join(hostRoot, AESMD_SOCKET_PATH) : join(tempDir, 'aesmd', 'aesm.socket'),
  };
}
