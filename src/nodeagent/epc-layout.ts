/**
 * How EPC is advertised as `kubernetes.azure.com/sgx_epc_mem_in_MiB`: one
 * device per MiB, with compact IDs, capped so that one ListAndWatch message
 * always stays under the kubelet's 4 MiB receive limit.
 *
 * IDs: unit n (0-based, numbered node by node in ascending NUMA order) has
 * the ID `n.toString(36)` — at most 4 characters up to 1.6 M units. A
 * device then costs 20–26 bytes on the wire (see docs/node-agent.md); the
 * cap is computed from the exact encoded size of the worst case (every
 * device Unhealthy, which is 2 bytes longer than Healthy), so health
 * changes can never push a message over the limit. Beyond the cap the units
 * are trimmed proportionally per NUMA node, and the agent logs why.
 */
import { KubeSgxError } from '../errors.js';
import type { InventoryDevice } from '../deviceplugin/api.js';

export const MIB = 1024 * 1024;
/** Default budget for one ListAndWatch message: 4 MiB minus 64 KiB of headroom. */
export const DEFAULT_MAX_MESSAGE_BYTES = 4 * MIB - 64 * 1024;

export interface EpcNodeUnits {
  node: number;
  /** MiB units of EPC on this NUMA node. */
  units: number;
}

export interface EpcLayout {
  /** Per NUMA node: units advertised, and the first unit index. */
  nodes: { node: number; units: number; first: number }[];
  /** Units advertised in total (≤ availableUnits). */
  units: number;
  /** Units the host has (before the cap). */
  availableUnits: number;
  /** Exact bytes of the largest (all-Unhealthy) ListAndWatch message for this layout. */
  worstCaseMessageBytes: number;
  /** Whether devices carry NUMA topology (false when EPC came from --epc-bytes: node unknown). */
  topology: boolean;
  /** Set when the cap trimmed units: why. */
  capReason?: string;
}

const ID_RE = /^(?:0|[1-9a-z][0-9a-z]{0,5})$/;

export function epcUnitId(index: number): string {
  return index.toString(36);
}

/** Parses an ID back into its unit index; -1 when it is not a canonical compact ID (same language as ID_RE). */
export function parseEpcUnitId(id: string): number {
  const len = id.length;
  if (len === 0 || len > 6 || (len > 1 && id.charCodeAt(0) === 48)) return -1; // empty, too long, leading zero
  let n = 0;
  for (let i = 0; i < len; i++) {
    const c = id.charCodeAt(i);
    let d: number;
    if (c >= 48 && c <= 57) d = c - 48;
    else if (c >= 97 && c <= 122) d = c - 87;
    else return -1;
    n = n * 36 + d;
  }
  return n;
}

/** The grammar parseEpcUnitId accepts, for documentation and tests. */
export const EPC_UNIT_ID_PATTERN = ID_RE;

function varintLength(n: number): number {
  return n < 0x80 ? 1 : n < 0x4000 ? 2 : n < 0x200000 ? 3 : 4;
}

/** Bytes of one devices entry: tag + length + {ID, health "Unhealthy", topology}. */
function entryBytes(idLen: number, numa: number | undefined): number {
  let body = 2 + idLen + 2 + 9;
  if (numa !== undefined) {
    const numaBody = numa === 0 ? 0 : 1 + varintLength(numa);
    body += 2 + 2 + numaBody; // topology tag+len, nodes tag+len, NUMANode body
  }
  return 1 + varintLength(body) + body;
}

/** Worst-case message size for unit indices [first, first+count) on NUMA node `numa`. */
function rangeBytes(first: number, count: number, numa: number | undefined): number {
  let total = 0;
  let lo = first;
  const end = first + count;
  for (let len = 1; lo < end; len++) {
    const limit = 36 ** len; // indices below this have ≤ len base-36 digits
    if (lo >= limit) continue;
    const hi = Math.min(end, limit);
    total += (hi - lo) * entryBytes(len, numa);
    lo = hi;
  }
  return total;
}

function layoutFor(nodes: readonly EpcNodeUnits[], counts: readonly number[], topology: boolean): { nodes: EpcLayout['nodes']; bytes: number } {
  let first = 0;
  let bytes = 0;
  const out: EpcLayout['nodes'] = [];
  nodes.forEach((n, i) => {
    const units = counts[i];
    out.push({ node: n.node, units, first });
    bytes += rangeBytes(first, units, topology ? n.node : undefined);
    first += units;
  });
  return { nodes: out, bytes };
}

/** Splits `total` over the nodes in proportion to their units (largest remainder). */
function proportional(nodes: readonly EpcNodeUnits[], total: number): number[] {
  const all = nodes.reduce((s, n) => s + n.units, 0);
  if (all === 0) return nodes.map(() => 0);
  const exact = nodes.map((n) => (n.units * total) / all);
  const counts = exact.map(Math.floor);
  let left = total - counts.reduce((s, c) => s + c, 0);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r);
  for (const { i } of order) {
    if (left <= 0) break;
    if (counts[i] < nodes[i].units) {
      counts[i]++;
      left--;
    }
  }
  return counts;
}

/** Plans the MiB devices for these NUMA nodes under a message byte budget. */
export function planEpcLayout(nodes: readonly EpcNodeUnits[], opts: { maxMessageBytes?: number; topology?: boolean } = {}): EpcLayout {
  const maxMessageBytes = opts.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
  const topology = opts.topology ?? true;
  for (const n of nodes) {
    if (!Number.isSafeInteger(n.units) || n.units < 0 || !Number.isSafeInteger(n.node) || n.node < 0 || n.node > 0x1fffff) {
      throw new KubeSgxError('INVALID_EPC_LAYOUT', `bad NUMA node entry ${JSON.stringify(n)}`, { path: ['nodes'] });
    }
  }
  const sorted = [...nodes].sort((a, b) => a.node - b.node);
  const availableUnits = sorted.reduce((s, n) => s + n.units, 0);
  const full = layoutFor(sorted, sorted.map((n) => n.units), topology);
  if (full.bytes <= maxMessageBytes) {
    return { nodes: full.nodes, units: availableUnits, availableUnits, worstCaseMessageBytes: full.bytes, topology };
  }
  // Binary search the largest total that fits; the size grows monotonically with it.
  let lo = 0;
  let hi = availableUnits;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (layoutFor(sorted, proportional(sorted, mid), topology).bytes <= maxMessageBytes) lo = mid;
    else hi = mid - 1;
  }
  const capped = layoutFor(sorted, proportional(sorted, lo), topology);
  return {
    nodes: capped.nodes,
    units: lo,
    availableUnits,
    worstCaseMessageBytes: capped.bytes,
    topology,
    capReason:
      `${availableUnits} MiB of EPC as one device per MiB would need a ${full.bytes}-byte ListAndWatch message; ` +
      `the kubelet accepts at most 4194304 bytes, so only ${lo} MiB units are advertised ` +
      `(budget ${maxMessageBytes} bytes). sgx.intel.com/epc still advertises all EPC.`,
  };
}

/** NUMA node of a unit index (layouts have few nodes: a linear scan is fastest). */
export function numaOfUnit(layout: EpcLayout, index: number): number {
  for (const n of layout.nodes) if (index >= n.first && index < n.first + n.units) return n.node;
  return -1;
}

/** The device list for ListAndWatch. */
export function epcDevices(layout: EpcLayout, healthy: boolean): InventoryDevice[] {
  const out: InventoryDevice[] = new Array(layout.units);
  let k = 0;
  for (const n of layout.nodes) {
    for (let i = n.first; i < n.first + n.units; i++) out[k++] = layout.topology ? { id: epcUnitId(i), healthy, numaNode: n.node } : { id: epcUnitId(i), healthy };
  }
  return out;
}
