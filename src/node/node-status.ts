/**
 * Node-level SGX facts in the Kubernetes API: `sgx.intel.com/epc` (bytes)
 * in the Node's status capacity and allocatable, and labels that steer SGX
 * pods. Capacity goes through the status subresource with a JSON patch
 * (`add` replaces an existing member, so re-applying is idempotent);
 * labels go through the Node object with a merge patch. A periodic check
 * re-asserts both, because the kubelet zeroes extended resources it does
 * not own when it re-registers a recreated Node.
 *
 * This never gates the device plugins: API errors are logged and retried.
 */
import { CoreV1Api, KubeConfig, PatchStrategy, setHeaderOptions, type V1Node } from '@kubernetes/client-node';
import { KubeSgxError, toKubeSgxError } from '../errors.js';
import { EPC_RESOURCE, LABEL_EPC_MIB, LABEL_FLC, LABEL_INTEL_NFD_SGX, LABEL_INTEL_NFD_TDX, LABEL_INTEL_NFD_TDX_GUEST, LABEL_SGX_CAPABLE, LABEL_TDX } from '../names.js';
import { readKubeConfig } from '../ops/kubeconfig.js';
import { silentLogger, type Logger } from '../ops/log.js';
import type { SgxInventory } from './discovery.js';


export interface NodeFacts {
  /** Bytes of EPC to advertise; null = leave capacity alone. */
  epcBytes: number | null;
  /** Labels to set (string) or remove (null). */
  labels: Record<string, string | null>;
}

/** What the node should look like for this discovery result. */
export function nodeFactsFor(inv: SgxInventory): NodeFacts {
  const capable = inv.enclaveDevice !== null;
  const labels: Record<string, string | null> = {
    [LABEL_SGX_CAPABLE]: capable ? 'true' : null,
    // Intel's NFD rule wants SGX with Flexible Launch Control.
    [LABEL_INTEL_NFD_SGX]: capable && inv.cpuFlc !== false && !(inv.legacyDriver && inv.enclaveDevices.length === 0) ? 'true' : null,
    [LABEL_EPC_MIB]: capable && inv.epcBytes > 0 ? String(Math.floor(inv.epcBytes / (1024 * 1024))) : null,
    [LABEL_FLC]: inv.cpuFlc === null ? null : String(inv.cpuFlc),
  };
  if (inv.tdx) {
    // A TD is also a guest of a TDX host: "guest" wins (a TD cannot run TDs).
    labels[LABEL_TDX] = inv.tdx.guest ? 'guest' : inv.tdx.host ? 'host' : null;
    // Intel's NFD / CCNP labels are only added, never removed: NFD may own them on this node.
    if (inv.tdx.host && !inv.tdx.guest) labels[LABEL_INTEL_NFD_TDX] = 'true';
    if (inv.tdx.guest) labels[LABEL_INTEL_NFD_TDX_GUEST] = 'enabled';
  }
  return { epcBytes: capable && inv.epcBytes > 0 ? inv.epcBytes : capable ? null : 0, labels };
}

const QUANTITY_SUFFIX: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/** Parses a Kubernetes quantity as the API server prints it ("512Gi", "98566144", "1e9"); null if not one. */
export function parseQuantity(q: string | undefined): number | null {
  if (q === undefined) return null;
  const m = /^(\d+(?:\.\d+)?)(?:([kMGTPE]i?|Ki)|[eE](\d+))?$/.exec(q);
  if (!m) return null;
  const n = Number(m[1]) * (m[3] !== undefined ? 10 ** Number(m[3]) : QUANTITY_SUFFIX[m[2] ?? '']);
  return Number.isFinite(n) ? n : null;
}

function escapePointer(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** JSON patch for the status subresource: EPC bytes into capacity and allocatable. */
export function epcCapacityPatch(bytes: number): { op: 'add'; path: string; value: string }[] {
  const key = escapePointer(EPC_RESOURCE);
  return [
    { op: 'add', path: `/status/capacity/${key}`, value: String(bytes) },
    { op: 'add', path: `/status/allocatable/${key}`, value: String(bytes) },
  ];
}

export interface NodeStatusUpdaterOptions {
  nodeName: string;
  /** kubeconfig file; absent = in-cluster service account. */
  kubeconfig?: string;
  logger?: Logger;
  /** Re-check period (the kubelet may reset capacity). Default 60 s. */
  intervalMs?: number;
}

export class NodeStatusUpdater {
  private readonly api: CoreV1Api;
  private readonly log: Logger;
  private desired: NodeFacts | null = null;
  private timer: NodeJS.Timeout | null = null;
  private busy: Promise<void> | null = null;
  patches = 0;
  lastError: string | undefined;
  lastSyncOk = false;

  constructor(private readonly opts: NodeStatusUpdaterOptions) {
    if (!opts.nodeName) throw new KubeSgxError('NODE_NAME_REQUIRED', 'node name required (--node-name or NODE_NAME)', { path: ['nodeName'] });
    const kc = readKubeConfig(new KubeConfig(), opts.kubeconfig, 'in-cluster');
    this.api = kc.makeApiClient(CoreV1Api);
    this.log = opts.logger ?? silentLogger;
  }

  /** Sets what the node should show and syncs now; the timer keeps re-asserting it. */
  async setDesired(facts: NodeFacts): Promise<void> {
    this.desired = facts;
    await this.sync();
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.sync(), this.opts.intervalMs ?? 60000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.busy;
  }

  /** Reads the Node and patches what differs. Errors are recorded, not thrown. */
  sync(): Promise<void> {
    if (this.busy) return this.busy;
    this.busy = this.syncOnce()
      .then(
        () => {
          this.lastSyncOk = true;
          this.lastError = undefined;
        },
        (e: unknown) => {
          this.lastSyncOk = false;
          this.lastError = toKubeSgxError(e).message;
          this.log.warn({ node: this.opts.nodeName, err: this.lastError }, 'node status/label update failed; will retry');
        },
      )
      .finally(() => {
        this.busy = null;
      });
    return this.busy;
  }

  private async syncOnce(): Promise<void> {
    const want = this.desired;
    if (!want) return;
    const name = this.opts.nodeName;
    const node: V1Node = await this.api.readNode({ name });
    const labels = node.metadata?.labels ?? {};
    const labelPatch: Record<string, string | null> = {};
    for (const [k, v] of Object.entries(want.labels)) {
      if (v === null ? k in labels : labels[k] !== v) labelPatch[k] = v;
    }
    if (Object.keys(labelPatch).length > 0) {
      await this.api.patchNode({ name, body: { metadata: { labels: labelPatch } } }, setHeaderOptions('Content-Type', PatchStrategy.MergePatch));
      this.patches++;
      this.log.info({ node: name, labels: labelPatch }, 'node labels updated');
    }
    if (want.epcBytes !== null) {
      const have = node.status?.capacity?.[EPC_RESOURCE];
      const haveAlloc = node.status?.allocatable?.[EPC_RESOURCE];
      const value = String(want.epcBytes);
      const absent = have === undefined && haveAlloc === undefined;
      const same = parseQuantity(have) === want.epcBytes && parseQuantity(haveAlloc) === want.epcBytes;
      if (!(absent && want.epcBytes === 0) && !same) {
        await this.api.patchNodeStatus({ name, body: epcCapacityPatch(want.epcBytes) }, setHeaderOptions('Content-Type', PatchStrategy.JsonPatch));
        this.patches++;
        this.log.info({ node: name, [EPC_RESOURCE]: value, was: have ?? null }, 'node EPC capacity patched');
      }
    }
  }
}
