/**
 * What a device plugin is to the framework: a resource name, an inventory,
 * and the two decisions the kubelet asks for. Plugins only scan and
 * allocate; src/deviceplugin/server.ts and manager.ts own gRPC, sockets,
 * registration and kubelet restarts.
 */
import type { ContainerAllocateResponseMsg, InventoryDevice } from './api.js';

export interface DevicePlugin {
  /** Extended resource name, e.g. `sgx.intel.com/enclave`. */
  readonly resourceName: string;
  /** Socket file name in the kubelet's device-plugins directory. */
  readonly socketName: string;
  /** Advertised in DevicePluginOptions.get_preferred_allocation_available. */
  readonly preferredAllocationAvailable: boolean;
  /**
   * The whole current inventory (ListAndWatch sends it as one message).
   * Return the same array object while nothing changed: the framework then
   * skips re-encoding (a 512 GiB EPC inventory is 170k devices).
   */
  devices(): readonly InventoryDevice[];
  /** Why the inventory is empty or unhealthy; undefined when all is well. */
  reason(): string | undefined;
  /**
   * Prepares one container's devices. Throws KubeSgxError: UNKNOWN_DEVICE /
   * INVALID_REQUEST for bad IDs (→ gRPC INVALID_ARGUMENT), DEVICE_UNAVAILABLE
   * when the host lost the device (→ FAILED_PRECONDITION).
   */
  allocate(ids: readonly string[]): ContainerAllocateResponseMsg;
  /** Picks `size` IDs from `available`, keeping `mustInclude`. */
  preferredAllocation(available: readonly string[], mustInclude: readonly string[], size: number): string[];
}

/** gRPC status codes the framework maps KubeSgxError codes to. */
export const PLUGIN_ERROR_STATUS: Readonly<Record<string, 'INVALID_ARGUMENT' | 'FAILED_PRECONDITION'>> = {
  UNKNOWN_DEVICE: 'INVALID_ARGUMENT',
  DUPLICATE_DEVICE: 'INVALID_ARGUMENT',
  INVALID_REQUEST: 'INVALID_ARGUMENT',
  DEVICE_UNAVAILABLE: 'FAILED_PRECONDITION',
};

/** Default GetPreferredAllocation: the must-include IDs, then the first available ones. */
export function firstAvailable(available: readonly string[], mustInclude: readonly string[], size: number): string[] {
  const out = new Set(mustInclude);
  for (const id of available) {
    if (out.size >= size) break;
    out.add(id);
  }
  return [...out];
}
