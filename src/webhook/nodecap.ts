/**
 * "Largest EPC any SGX node offers", read from node allocatable and cached, for
 * `maxEpcPerNode: fromNodes`. With no SGX node in the cluster (a pool scaled
 * to zero) the answer is "unknown" and the size check is skipped: denying
 * then would break scale-from-zero.
 */
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { EPC_RESOURCE, LEGACY_EPC_RESOURCE } from '../names.js';
import type { WebhookConfig } from './config.js';
import { MIB, parseIntegerQuantity } from './quantity.js';

interface NodeLike {
  metadata?: { labels?: Record<string, string> };
  status?: { allocatable?: Record<string, string>; capacity?: Record<string, string> };
}

/** EPC bytes one node offers (allocatable, else capacity), or undefined. */
export function nodeEpcBytes(node: NodeLike): bigint | undefined {
  for (const src of [node.status?.allocatable, node.status?.capacity]) {
    if (!src) continue;
    try {
      if (src[EPC_RESOURCE] !== undefined) return parseIntegerQuantity(src[EPC_RESOURCE]);
      if (src[LEGACY_EPC_RESOURCE] !== undefined) return parseIntegerQuantity(src[LEGACY_EPC_RESOURCE]) * MIB;
    } catch {
      return undefined;
    }
  }
  return undefined;
}

export function maxEpcFromNodes(nodes: readonly NodeLike[]): bigint | undefined {
  let max: bigint | undefined;
  for (const n of nodes) {
    const b = nodeEpcBytes(n);
    if (b !== undefined && b > 0n && (max === undefined || b > max)) max = b;
  }
  return max;
}

export type NodeLister = () => Promise<readonly NodeLike[]>;

export function nodeListerFromKubeConfig(kc: KubeConfig): NodeLister {
  const api = kc.makeApiClient(CoreV1Api);
  return async () => (await api.listNode()).items as readonly NodeLike[];
}

/** Cached maximum; `current()` never waits, a stale value triggers one background refresh. */
export class NodeEpcCapacity {
  private value: bigint | undefined;
  private fetchedAt = 0;
  private inflight: Promise<bigint | undefined> | undefined;
  lastError: string | undefined;

  constructor(
    private readonly list: NodeLister,
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  static fromConfig(kc: KubeConfig, config: WebhookConfig): NodeEpcCapacity {
    return new NodeEpcCapacity(nodeListerFromKubeConfig(kc), config.nodeCacheSeconds * 1000);
  }

  current(): bigint | undefined {
    if (this.now() - this.fetchedAt > this.ttlMs) void this.refresh();
    return this.value;
  }

  refresh(): Promise<bigint | undefined> {
    this.inflight ??= this.list()
      .then(
        (nodes) => {
          this.value = maxEpcFromNodes(nodes);
          this.lastError = undefined;
          return this.value;
        },
        (e: unknown) => {
          // Keep the last known value; an API hiccup must not change admission.
          this.lastError = e instanceof Error ? e.message : String(e);
          return this.value;
        },
      )
      .finally(() => {
        this.fetchedAt = this.now();
        this.inflight = undefined;
      });
    return this.inflight;
  }
}
