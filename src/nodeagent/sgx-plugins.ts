/**
 * The SGX plugins: EPC in MiB units (`kubernetes.azure.com/sgx_epc_mem_in_MiB`)
 * and enclave / provision slots (`sgx.intel.com/enclave`, `sgx.intel.com/provision`).
 * Each is fed the latest discovery (`setHost`) and derives its inventory:
 *  - never saw SGX → empty inventory, with a reason;
 *  - saw it, device node now gone → same devices, Unhealthy;
 *  - device back → Healthy again.
 * Allocate hands out the REAL host device path (never under --host-root),
 * plus container-side aliases for the other spelling libraries open.
 */
import { KubeSgxError } from '../errors.js';
import { AESMD_SOCKET_DIR, AESM_ADDR_ENV, ENCLAVE_RESOURCE, LEGACY_EPC_RESOURCE, PROVISION_RESOURCE, SGX_DEVICE_PATHS } from '../names.js';
import type { SgxInventory } from '../node/discovery.js';
import type { ContainerAllocateResponseMsg, DeviceSpecMsg, InventoryDevice } from '../deviceplugin/api.js';
import { epcDevices, MIB, numaOfUnit, parseEpcUnitId, planEpcLayout, type EpcLayout } from './epc-layout.js';
import { firstAvailable, type DevicePlugin } from '../deviceplugin/plugin.js';

export const DEFAULT_SLOTS = 110;

/** Each of two names of one device is offered under both, its own first. */
const bothNames = ([a, b]: readonly [string, string]) => ({ [a]: [a, b], [b]: [b, a] });
/** Container paths under which a host device node is offered. */
const ALIASES: Record<string, string[]> = {
  ...bothNames(SGX_DEVICE_PATHS.enclave),
  ...bothNames(SGX_DEVICE_PATHS.provision),
  // The SGX1 driver speaks another ioctl ABI: never alias it as the in-tree names.
  [SGX_DEVICE_PATHS.legacy]: [SGX_DEVICE_PATHS.legacy],
};

export function deviceSpecsFor(hostPath: string): DeviceSpecMsg[] {
  return (ALIASES[hostPath] ?? [hostPath]).map((containerPath) => ({ container_path: containerPath, host_path: hostPath, permissions: 'rw' }));
}

function emptyResponse(): ContainerAllocateResponseMsg {
  return { envs: {}, mounts: [], devices: [], annotations: {}, cdi_devices: [] };
}

/**
 * Enclave access: the enclave device and aesmd's socket DIRECTORY, always —
 * a container started before the quote helper (right after boot) must see the
 * socket once it appears, and Allocate is its only chance to get the mount.
 * The directory exists on the host: the node agent's and quote helper's
 * DaemonSets mount it as a DirectoryOrCreate hostPath, and containerd's CRI
 * creates a missing bind-mount source (MkdirAll 0755) anyway.
 * SGX_AESM_ADDR=1 only when the socket exists now: it switches the DCAP
 * library to out-of-process quoting, which would break in-process quoting on
 * hosts that never run aesmd (the webhook sets it for the pods it admits).
 */
function enclaveResponse(host: SgxInventory | null, resource: string): ContainerAllocateResponseMsg {
  const dev = host?.enclaveDevice ?? null;
  if (host === null || dev === null) {
    throw new KubeSgxError('DEVICE_UNAVAILABLE', `${resource}: no SGX enclave device on this host now`, { path: ['devices_ids'] });
  }
  const res = emptyResponse();
  res.devices = deviceSpecsFor(dev);
  res.mounts.push({ container_path: AESMD_SOCKET_DIR, host_path: AESMD_SOCKET_DIR }); // writable: connecting to a socket needs write access
  if (host.aesmdSocket !== null) res.envs[AESM_ADDR_ENV] = '1';
  return res;
}

/** Rejects empty, unknown or repeated device IDs in an Allocate (INVALID_REQUEST, UNKNOWN_DEVICE, DUPLICATE_DEVICE). */
export function checkDeviceIds(ids: readonly string[], resource: string, valid: (id: string) => boolean): void {
  if (ids.length === 0) throw new KubeSgxError('INVALID_REQUEST', `${resource}: empty devices_ids`, { path: ['devices_ids'] });
  const seen = new Set<string>();
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (!valid(id)) {
      throw new KubeSgxError('UNKNOWN_DEVICE', `${resource}: unknown device ID ${JSON.stringify(id.slice(0, 80))}`, { path: ['devices_ids', i] });
    }
    if (seen.has(id)) throw new KubeSgxError('DUPLICATE_DEVICE', `${resource}: device ID ${JSON.stringify(id)} listed twice`, { path: ['devices_ids', i] });
    seen.add(id);
  }
}

/** Slots: N interchangeable devices that all stand for one device node. */
export class SgxSlotPlugin implements DevicePlugin {
  readonly preferredAllocationAvailable = false;
  readonly resourceName: string;
  readonly socketName: string;
  private host: SgxInventory | null = null;
  private everSeen = false;
  private readonly idPrefix: string;

  constructor(
    readonly kind: 'enclave' | 'provision',
    readonly slots = DEFAULT_SLOTS,
  ) {
    if (!Number.isSafeInteger(slots) || slots < 1 || slots > 100000) {
      throw new KubeSgxError('INVALID_SLOTS', `${kind} slots must be 1..100000, got ${slots}`, { path: [`${kind}Slots`] });
    }
    this.resourceName = kind === 'enclave' ? ENCLAVE_RESOURCE : PROVISION_RESOURCE;
    this.socketName = `kube-sgx-${kind}.sock`;
    this.idPrefix = `${kind}-`;
  }

  private device(): string | null {
    if (!this.host) return null;
    return this.kind === 'enclave' ? this.host.enclaveDevice : this.host.provisionDevice;
  }

  setHost(host: SgxInventory): void {
    this.host = host;
    if (this.device() !== null) this.everSeen = true;
  }

  private cache: { key: string; devices: InventoryDevice[] } = { key: 'none', devices: [] };

  devices(): InventoryDevice[] {
    const healthy = this.device() !== null;
    const key = this.everSeen ? String(healthy) : 'none';
    if (key !== this.cache.key) {
      this.cache = { key, devices: this.everSeen ? Array.from({ length: this.slots }, (_, i) => ({ id: this.idPrefix + i, healthy })) : [] };
    }
    return this.cache.devices;
  }

  reason(): string | undefined {
    if (this.device() !== null) return undefined;
    const what = this.kind === 'enclave' ? 'enclave device (/dev/sgx_enclave, /dev/sgx/enclave, /dev/isgx)' : 'provision device (/dev/sgx_provision, /dev/sgx/provision)';
    return `${this.everSeen ? 'lost' : 'no'} SGX ${what}` + (this.host && this.host.reasons.length ? `: ${this.host.reasons.join('; ')}` : '');
  }

  private validId = (id: string): boolean => {
    if (!id.startsWith(this.idPrefix)) return false;
    const n = id.slice(this.idPrefix.length);
    return /^(?:0|[1-9]\d{0,5})$/.test(n) && Number(n) < this.slots;
  };

  allocate(ids: readonly string[]): ContainerAllocateResponseMsg {
    checkDeviceIds(ids, this.resourceName, this.validId);
    if (this.kind === 'enclave') return enclaveResponse(this.host, this.resourceName);
    const dev = this.device();
    if (dev === null) throw new KubeSgxError('DEVICE_UNAVAILABLE', `${this.resourceName}: no SGX provision device on this host now`, { path: ['devices_ids'] });
    const res = emptyResponse();
    res.devices = deviceSpecsFor(dev);
    return res;
  }

  preferredAllocation(available: readonly string[], mustInclude: readonly string[], size: number): string[] {
    return firstAvailable(available, mustInclude, size);
  }
}

export interface EpcMibPluginOptions {
  /** Byte budget for one ListAndWatch message (default 4 MiB − 64 KiB). */
  maxMessageBytes?: number;
}

/** EPC in MiB units, one device each, with NUMA topology. */
export class EpcMibPlugin implements DevicePlugin {
  readonly resourceName = LEGACY_EPC_RESOURCE;
  readonly socketName = 'kube-sgx-epc-mib.sock';
  readonly preferredAllocationAvailable = true;
  private host: SgxInventory | null = null;
  private layoutKey = '';
  private layoutValue: EpcLayout | null = null;

  constructor(private readonly opts: EpcMibPluginOptions = {}) {}

  get layout(): EpcLayout | null {
    return this.layoutValue;
  }

  /** Updates the host view; returns true when the layout (unit count or NUMA split) changed. */
  setHost(host: SgxInventory): boolean {
    this.host = host;
    if (host.enclaveDevice === null || host.epcByNuma.length === 0) return false; // keep the last layout: devices go Unhealthy
    const nodes = host.epcByNuma.map((n) => ({ node: n.node, units: Math.floor(n.bytes / MIB) }));
    const key = JSON.stringify([nodes, host.epcSource]);
    if (key === this.layoutKey) return false;
    this.layoutKey = key;
    this.layoutValue = planEpcLayout(nodes, { maxMessageBytes: this.opts.maxMessageBytes, topology: host.epcSource === 'sysfs' });
    return true;
  }

  private healthy(): boolean {
    return this.host !== null && this.host.enclaveDevice !== null && this.host.epcByNuma.length > 0;
  }

  private cache: { layout: EpcLayout | null; healthy: boolean; devices: InventoryDevice[] } = { layout: null, healthy: false, devices: [] };

  devices(): InventoryDevice[] {
    const healthy = this.healthy();
    if (this.cache.layout !== this.layoutValue || this.cache.healthy !== healthy) {
      this.cache = { layout: this.layoutValue, healthy, devices: this.layoutValue ? epcDevices(this.layoutValue, healthy) : [] };
    }
    return this.cache.devices;
  }

  reason(): string | undefined {
    if (this.healthy()) return this.layoutValue?.capReason;
    const why = this.host?.reasons.join('; ') || 'SGX not discovered yet';
    return `${this.layoutValue ? 'EPC units unhealthy' : 'no EPC units'}: ${why}`;
  }

  private unitIndex(id: string): number {
    const idx = parseEpcUnitId(id);
    return this.layoutValue && idx >= 0 && idx < this.layoutValue.units ? idx : -1;
  }

  /**
   * Allocate checks every ID (known unit, listed once) without building a
   * Set of thousands of strings per call: a unit's slot in `seenIn` holds the
   * number of the last call that listed it.
   */
  private seenIn = new Uint32Array(0);
  private call = 0;

  allocate(ids: readonly string[]): ContainerAllocateResponseMsg {
    if (ids.length === 0) throw new KubeSgxError('INVALID_REQUEST', `${this.resourceName}: empty devices_ids`, { path: ['devices_ids'] });
    const units = this.layoutValue?.units ?? 0;
    if (this.seenIn.length !== units || this.call === 0xffffffff) {
      this.seenIn = new Uint32Array(units);
      this.call = 0;
    }
    const call = ++this.call;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      const idx = this.unitIndex(id);
      if (idx < 0) throw new KubeSgxError('UNKNOWN_DEVICE', `${this.resourceName}: unknown device ID ${JSON.stringify(id.slice(0, 80))}`, { path: ['devices_ids', i] });
      if (this.seenIn[idx] === call) throw new KubeSgxError('DUPLICATE_DEVICE', `${this.resourceName}: device ID ${JSON.stringify(id)} listed twice`, { path: ['devices_ids', i] });
      this.seenIn[idx] = call;
    }
    return enclaveResponse(this.host, this.resourceName);
  }

  /**
   * Keeps the request on one NUMA node when it fits: the node of the
   * must-include units if they share one, else the node with the fewest
   * available units that still fits (best fit keeps big holes for big pods).
   * Otherwise spills over nodes, largest first.
   */
  preferredAllocation(available: readonly string[], mustInclude: readonly string[], size: number): string[] {
    const layout = this.layoutValue;
    if (!layout || size <= 0) return [];
    const byNode = new Map<number, string[]>();
    const must = new Set(mustInclude);
    for (const id of available) {
      if (must.has(id)) continue;
      const idx = this.unitIndex(id);
      if (idx < 0) throw new KubeSgxError('UNKNOWN_DEVICE', `${this.resourceName}: unknown device ID ${JSON.stringify(id.slice(0, 80))}`, { path: ['available_deviceIDs'] });
      const node = numaOfUnit(layout, idx);
      let list = byNode.get(node);
      if (!list) byNode.set(node, (list = []));
      list.push(id);
    }
    for (const id of must) {
      if (this.unitIndex(id) < 0) throw new KubeSgxError('UNKNOWN_DEVICE', `${this.resourceName}: unknown device ID ${JSON.stringify(id.slice(0, 80))}`, { path: ['must_include_deviceIDs'] });
    }
    const need = size - must.size;
    if (need <= 0) return [...must];
    const mustNodes = new Set([...must].map((id) => numaOfUnit(layout, this.unitIndex(id))));
    let order: number[];
    if (mustNodes.size === 1) {
      const only = [...mustNodes][0];
      order = [only, ...[...byNode.keys()].filter((n) => n !== only).sort((a, b) => byNode.get(b)!.length - byNode.get(a)!.length)];
    } else if (mustNodes.size === 0) {
      const fits = [...byNode.entries()].filter(([, l]) => l.length >= need).sort((a, b) => a[1].length - b[1].length || a[0] - b[0]);
      order = fits.length > 0 ? [fits[0][0]] : [...byNode.keys()].sort((a, b) => byNode.get(b)!.length - byNode.get(a)!.length || a - b);
    } else {
      order = [...byNode.keys()].sort((a, b) => byNode.get(b)!.length - byNode.get(a)!.length || a - b);
    }
    const out = [...must];
    for (const node of order) {
      for (const id of byNode.get(node) ?? []) {
        if (out.length >= size) return out;
        out.push(id);
      }
    }
    return out;
  }
}
