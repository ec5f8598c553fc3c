/**
 * `tdx.intel.com/tdx-guest`: slots that hand the TDX guest device
 * (`/dev/tdx_guest`) to pods on a node that is a trust domain, so an app
 * can get a TDREPORT / quote from inside its TD (Kata or a TD node). Same
 * lifecycle as the SGX slot plugins: empty until the device was seen, then
 * Unhealthy while it is gone.
 */
import { KubeSgxError } from '../errors.js';
import { TDX_GUEST_RESOURCE } from '../names.js';
import type { SgxInventory } from '../node/discovery.js';
import type { ContainerAllocateResponseMsg, InventoryDevice } from '../deviceplugin/api.js';
import { firstAvailable, type DevicePlugin } from '../deviceplugin/plugin.js';
import { DEFAULT_SLOTS, checkDeviceIds } from './sgx-plugins.js';

export class TdxGuestPlugin implements DevicePlugin {
  readonly resourceName = TDX_GUEST_RESOURCE;
  readonly socketName = 'kube-sgx-tdx-guest.sock';
  readonly preferredAllocationAvailable = false;
  private device: string | null = null;
  private everSeen = false;
  private cache: { key: string; devices: InventoryDevice[] } = { key: 'none', devices: [] };

  constructor(readonly slots = DEFAULT_SLOTS) {
    if (!Number.isSafeInteger(slots) || slots < 1 || slots > 100000) {
      throw new KubeSgxError('INVALID_SLOTS', `tdx-guest slots must be 1..100000, got ${slots}`, { path: ['tdxGuestSlots'] });
    }
  }

  setHost(host: SgxInventory): void {
    this.device = host.tdx?.guestDevice ?? null;
    if (this.device !== null) this.everSeen = true;
  }

  devices(): InventoryDevice[] {
    const key = this.everSeen ? String(this.device !== null) : 'none';
    if (key !== this.cache.key) {
      const healthy = this.device !== null;
      this.cache = { key, devices: this.everSeen ? Array.from({ length: this.slots }, (_, i) => ({ id: `tdx-guest-${i}`, healthy })) : [] };
    }
    return this.cache.devices;
  }

  reason(): string | undefined {
    if (this.device !== null) return undefined;
    return `${this.everSeen ? 'lost' : 'no'} TDX guest device (/dev/tdx_guest, /dev/tdx-guest): this node is not a trust domain, or the tdx_guest driver is not loaded`;
  }

  private validId = (id: string): boolean => {
    const m = /^tdx-guest-(0|[1-9]\d{0,5})$/.exec(id);
    return m !== null && Number(m[1]) < this.slots;
  };

  allocate(ids: readonly string[]): ContainerAllocateResponseMsg {
    checkDeviceIds(ids, this.resourceName, this.validId);
    const dev = this.device;
    if (dev === null) throw new KubeSgxError('DEVICE_UNAVAILABLE', `${this.resourceName}: no TDX guest device on this node now`, { path: ['devices_ids'] });
    // The device keeps its own name in the container: libtdx_attest and configfs users open /dev/tdx_guest.
    return { envs: {}, mounts: [], devices: [{ container_path: dev, host_path: dev, permissions: 'rw' }], annotations: {}, cdi_devices: [] };
  }

  preferredAllocation(available: readonly string[], mustInclude: readonly string[], size: number): string[] {
    return firstAvailable(available, mustInclude, size);
  }
}
