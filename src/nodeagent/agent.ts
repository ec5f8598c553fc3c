/**
 * The node agent: the composition root that ties discovery (src/node), the
 * SGX plugins and the device plugin framework, the Node status updater,
 * metrics and the ops server together, started and stopped by the shared
 * ComponentLifecycle. `startNodeAgent` is what `kube-sgx node-agent` runs,
 * and what the demo runs in-process.
 *
 * Discovery runs at start and then every `discoveryIntervalMs`: SGX
 * appearing later (driver loaded after boot) or device nodes vanishing and
 * returning flow into the plugins' inventories and out on ListAndWatch.
 */
import { KubeSgxError, toKubeSgxError } from '../errors.js';
import { createLogger, type Logger } from '../ops/log.js';
import { ComponentLifecycle } from '../ops/lifecycle.js';
import { discoverSgx, type DiscoverSgxOptions, type SgxInventory } from '../node/discovery.js';
import { readEpcProbeFile } from '../node/epc-probe.js';
import type { NodeStatusUpdater } from '../node/node-status.js';
import { HEALTHY } from '../deviceplugin/api.js';
import { DevicePluginManager, type PluginRegistrationStatus } from '../deviceplugin/manager.js';
import { NodeAgentMetrics } from './metrics.js';
import type { DevicePlugin } from '../deviceplugin/plugin.js';
import { AESMD_SOCKET_PATH, AESM_ADDR_ENV, ENCLAVE_RESOURCE, EPC_RESOURCE, LEGACY_EPC_RESOURCE, PROVISION_RESOURCE, TDX_GUEST_RESOURCE } from '../names.js';
import { EpcMibPlugin, SgxSlotPlugin } from './sgx-plugins.js';
import { TdxGuestPlugin } from './tdx-plugin.js';
import { parseNodeAgentOptions, type NodeAgentSettingsInput } from './options.js';

export const ALL_SGX_RESOURCES = [LEGACY_EPC_RESOURCE, ENCLAVE_RESOURCE, PROVISION_RESOURCE, EPC_RESOURCE] as const;
export type SgxResourceName = (typeof ALL_SGX_RESOURCES)[number] | typeof TDX_GUEST_RESOURCE;
const KNOWN_RESOURCES: readonly SgxResourceName[] = [...ALL_SGX_RESOURCES, TDX_GUEST_RESOURCE];

const RESOURCE_ALIASES: Record<string, SgxResourceName> = {
  'epc-mib': LEGACY_EPC_RESOURCE,
  sgx_epc_mem_in_MiB: LEGACY_EPC_RESOURCE,
  enclave: ENCLAVE_RESOURCE,
  provision: PROVISION_RESOURCE,
  epc: EPC_RESOURCE,
  'tdx-guest': TDX_GUEST_RESOURCE,
};

/** Parses `--resources` (full names or epc-mib, enclave, provision, epc, tdx-guest), comma-separated. */
export function parseSgxResourceList(list: string): SgxResourceName[] {
  const out: SgxResourceName[] = [];
  for (const raw of list.split(',').map((s) => s.trim()).filter(Boolean)) {
    const name = (KNOWN_RESOURCES as readonly string[]).includes(raw) ? (raw as SgxResourceName) : RESOURCE_ALIASES[raw];
    if (!name) {
      throw new KubeSgxError('UNKNOWN_RESOURCE', `unknown SGX resource ${JSON.stringify(raw)}; known: ${KNOWN_RESOURCES.join(', ')} (or epc-mib, enclave, provision, epc, tdx-guest)`, {
        path: ['resources'],
      });
    }
    if (!out.includes(name)) out.push(name);
  }
  if (out.length === 0) throw new KubeSgxError('UNKNOWN_RESOURCE', 'resource list is empty', { path: ['resources'] });
  return out;
}

/** startNodeAgent's options: the input of nodeAgentOptionsSchema (src/nodeagent/options.ts, shared with the CLI), plus the logger. */
export interface NodeAgentOptions extends NodeAgentSettingsInput {
  logger?: Logger;
}

export interface NodeAgentStatus {
  /** epcSource: where the EPC size came from (sysfs, cpuid, override = --epc-bytes, none); epcProbeFile: set when cpuid came through the init container's probe file. */
  sgx: { available: boolean; epcSource: SgxInventory['epcSource']; epcProbeFile?: string; reasons: string[]; inventory: SgxInventory | null };
  plugins: (PluginRegistrationStatus & { reason?: string })[];
  epcMib?: { availableUnits: number; advertisedUnits: number; capReason?: string };
  kubeletRestarts: number;
  nodeUpdate: { enabled: boolean; ok?: boolean; error?: string };
}

export interface NodeAgent {
  readonly manager: DevicePluginManager;
  readonly metrics: NodeAgentMetrics;
  /** URL of the ops server when metricsAddr was given. */
  readonly opsUrl: string | undefined;
  inventory(): SgxInventory | null;
  status(): NodeAgentStatus;
  ready(): { ready: boolean; reason?: string };
  /** Runs discovery now (the timer also does). */
  rediscover(): Promise<void>;
  stop(): Promise<void>;
}

export async function startNodeAgent(input: NodeAgentOptions = {}): Promise<NodeAgent> {
  const { logger, ...data } = input;
  const opts = parseNodeAgentOptions(data);
  const log = logger ?? createLogger('node-agent');
  const hostRoot = opts.hostRoot;
  const metrics = new NodeAgentMetrics();
  // A missing or garbled probe file stops the start (EPC_FILE_UNREADABLE / EPC_FILE_INVALID): never a silent EPC of 0.
  const discoverOpts: DiscoverSgxOptions = {
    epcBytes: opts.epcBytes,
    ...(opts.epcFile === undefined ? {} : { cpuidProbe: { file: opts.epcFile, probe: await readEpcProbeFile(opts.epcFile) } }),
  };
  const first = await discoverSgx(hostRoot, discoverOpts);
  // By default the TDX guest device is served where it exists at start (a TD node); --resources can ask for it anywhere.
  const resources: readonly SgxResourceName[] = opts.resources ?? (first.tdx?.guestDevice ? [...ALL_SGX_RESOURCES, TDX_GUEST_RESOURCE] : ALL_SGX_RESOURCES);

  const epcPlugin = resources.includes(LEGACY_EPC_RESOURCE) ? new EpcMibPlugin({ maxMessageBytes: opts.maxMessageBytes }) : null;
  const enclavePlugin = resources.includes(ENCLAVE_RESOURCE) ? new SgxSlotPlugin('enclave', opts.enclaveSlots) : null;
  const provisionPlugin = resources.includes(PROVISION_RESOURCE) ? new SgxSlotPlugin('provision', opts.provisionSlots) : null;
  const tdxPlugin = resources.includes(TDX_GUEST_RESOURCE) ? new TdxGuestPlugin() : null;
  const plugins: DevicePlugin[] = [epcPlugin, enclavePlugin, provisionPlugin, tdxPlugin].filter((p): p is NonNullable<typeof p> => p !== null);

  let inv: SgxInventory | null = null;
  let lastReasons = '';
  let lastCapReason: string | undefined;
  let lastFacts = '';
  let countedPatches = 0;

  async function rediscover(found?: SgxInventory): Promise<void> {
    const next = found ?? (await discoverSgx(hostRoot, discoverOpts));
    inv = next;
    epcPlugin?.setHost(next);
    enclavePlugin?.setHost(next);
    provisionPlugin?.setHost(next);
    tdxPlugin?.setHost(next);
    const reasons = next.reasons.join('; ') + `|aesmd=${next.aesmdSocket !== null}|tdx=${next.tdx?.evidence.join(',') ?? ''}`;
    if (reasons !== lastReasons) {
      lastReasons = reasons;
      if (next.enclaveDevice === null) log.warn({ hostRoot, reasons: next.reasons }, 'no SGX on this node: advertising an empty inventory; will keep looking');
      else log.info({ enclave: next.enclaveDevice, provision: next.provisionDevice, epcBytes: next.epcBytes, epcSource: next.epcSource, epcProbeFile: next.epcProbeFile, aesmd: next.aesmdSocket, reasons: next.reasons }, 'SGX discovered');
      if (next.tdx?.host || next.tdx?.guest) log.info({ tdxHost: next.tdx.host, tdxGuest: next.tdx.guest, guestDevice: next.tdx.guestDevice, evidence: next.tdx.evidence }, 'TDX discovered');
      if (next.enclaveDevice !== null && next.aesmdSocket === null) {
        log.warn(`no aesmd socket at ${AESMD_SOCKET_PATH}: out-of-process quoting (${AESM_ADDR_ENV}) unavailable until the quote helper runs`);
      }
    }
    const cap = epcPlugin?.layout?.capReason;
    if (cap && cap !== lastCapReason) log.warn({ resource: LEGACY_EPC_RESOURCE }, cap);
    lastCapReason = cap;
    manager.refreshAll();
    updateMetrics();
    if (nodeUpdater) {
      const facts = nodeStatusModule!.nodeFactsFor(next);
      if (!resources.includes(EPC_RESOURCE)) facts.epcBytes = null;
      // Only on a change: the updater's own slow timer re-asserts unchanged facts (one GET per minute, not per scan).
      const key = JSON.stringify(facts);
      if (key !== lastFacts) {
        lastFacts = key;
        await nodeUpdater.setDesired(facts);
      }
      metrics.nodePatches.inc(nodeUpdater.patches - countedPatches);
      countedPatches = nodeUpdater.patches;
    }
  }

  function updateMetrics(): void {
    metrics.sgxAvailable.set(inv?.enclaveDevice ? 1 : 0);
    metrics.sgxUnavailableReason.reset();
    for (const r of inv?.reasons ?? []) metrics.sgxUnavailableReason.set({ reason: r }, 1);
    metrics.epcBytes.reset();
    for (const n of inv?.epcByNuma ?? []) metrics.epcBytes.set({ numa_node: String(n.node) }, n.bytes);
    const layout = epcPlugin?.layout;
    metrics.epcUnitsCapped.set(layout ? layout.availableUnits - layout.units : 0);
    for (const s of manager.servers) {
      metrics.advertisedDevices.set({ resource: s.plugin.resourceName, health: HEALTHY }, s.inventoryHealthy);
      metrics.advertisedDevices.set({ resource: s.plugin.resourceName, health: 'Unhealthy' }, s.inventoryDevices - s.inventoryHealthy);
      metrics.messageBytes.set({ resource: s.plugin.resourceName }, s.inventoryBytes);
    }
  }

  // Node updates never gate the plugins: a bad config is logged and shown in /status.
  let nodeUpdater: NodeStatusUpdater | null = null;
  let nodeUpdateError: string | undefined;
  const nodeUpdate = opts.nodeUpdate;
  // Loaded only when used: @kubernetes/client-node takes seconds to import on a cold disk.
  const nodeStatusModule = nodeUpdate ? await import('../node/node-status.js') : null;
  if (nodeStatusModule) {
    try {
      const nodeName = opts.nodeName ?? process.env.NODE_NAME ?? '';
      nodeUpdater = new nodeStatusModule.NodeStatusUpdater({ nodeName, kubeconfig: opts.kubeconfig, logger: log, intervalMs: opts.nodeStatusIntervalMs });
    } catch (e) {
      nodeUpdateError = toKubeSgxError(e).message;
      log.error({ err: toKubeSgxError(e).toJSON() }, 'node status/labels will not be updated');
    }
  }

  const manager = new DevicePluginManager(plugins, {
    kubeletDir: opts.kubeletDir,
    logger: log,
    pollMs: opts.pollMs,
    hooks: {
      onAllocate: (resource, units, ok) => (ok ? metrics.allocatedUnits.inc({ resource }, units) : metrics.allocateErrors.inc({ resource })),
      onListAndWatchSent: (resource, bytes) => metrics.messageBytes.set({ resource }, bytes),
      onRegistration: (resource, state) => {
        metrics.registered.set({ resource }, state === 'registered' ? 1 : 0);
        if (state === 'registered') metrics.registrations.inc({ resource });
      },
      onKubeletRestart: () => metrics.kubeletRestarts.inc(),
    },
  });
  for (const p of plugins) metrics.registered.set({ resource: p.resourceName }, 0);
  await rediscover(first);

  const mgr = manager;
  const status = (): NodeAgentStatus => {
    const layout = epcPlugin?.layout;
    return {
      sgx: { available: inv?.enclaveDevice != null, epcSource: inv?.epcSource ?? 'none', ...(inv?.epcProbeFile ? { epcProbeFile: inv.epcProbeFile } : {}), reasons: inv?.reasons ?? [], inventory: inv },
      plugins: mgr.status().map((s) => {
        const reason = plugins.find((p) => p.resourceName === s.resource)?.reason();
        return reason ? { ...s, reason } : s;
      }),
      ...(layout ? { epcMib: { availableUnits: layout.availableUnits, advertisedUnits: layout.units, ...(layout.capReason ? { capReason: layout.capReason } : {}) } } : {}),
      kubeletRestarts: mgr.kubeletRestarts,
      nodeUpdate: nodeUpdater
        ? { enabled: true, ok: nodeUpdater.lastSyncOk, ...(nodeUpdater.lastError ? { error: nodeUpdater.lastError } : {}) }
        : { enabled: false, ...(nodeUpdateError ? { error: nodeUpdateError } : {}) },
    };
  };
  const ready = () => {
    const pending = mgr.status().filter((s) => s.state !== 'registered');
    return pending.length === 0 ? { ready: true } : { ready: false, reason: `not registered with the kubelet: ${pending.map((p) => p.resource).join(', ')}` };
  };

  const life = new ComponentLifecycle(log, 'node agent');
  const ops = await life.starting(async () => {
    // Registered before start(): plugin servers already serving when a later one cannot bind are stopped too.
    life.closeOnStop(() => mgr.stop());
    await mgr.start();
    updateMetrics();
    const updater = nodeUpdater;
    if (updater) {
      updater.start();
      life.closeOnStop(() => updater.stop());
    }
    const discoveryTimer = setInterval(() => {
      rediscover().catch((e: unknown) => log.error({ err: toKubeSgxError(e).toJSON() }, 'discovery failed'));
    }, opts.discoveryIntervalMs);
    discoveryTimer.unref();
    life.closeOnStop(async () => clearInterval(discoveryTimer));
    const ops = await life.serveOps(opts.metricsAddr, { registry: metrics.registry, ready, status: () => status() }, (addr, listenError) =>
      new KubeSgxError('METRICS_LISTEN_FAILED', `cannot serve metrics on ${addr}: ${listenError.message}`, { cause: listenError, path: ['metricsAddr'] }),
    );
    if (ops) log.info({ url: ops.url }, 'ops server listening');
    return ops;
  });

  return {
    manager: mgr,
    metrics,
    opsUrl: ops?.url,
    inventory: () => inv,
    status,
    ready,
    rediscover: () => rediscover(),
    stop: life.stopper({}),
  };
}
