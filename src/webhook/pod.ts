/**
 * The slice of a v1 Pod the webhook reads, checked structurally (the API
 * server has already validated types, but a webhook must not trust its
 * input), and the per-container SGX analysis that mutation and validation share.
 */
import { KubeSgxError, type ErrorPath } from '../errors.js';
import { EPC_RESOURCE, INTEL_SGX_RESOURCE_PREFIX, KNOWN_INTEL_RESOURCES, LEGACY_EPC_RESOURCE, isSgxResourceName } from '../names.js';
import { MIB, ceilDiv, formatBinarySI, parseIntegerQuantity } from './quantity.js';

export type ResourceList = Record<string, unknown>;
export interface ResourceRequirements {
  limits?: ResourceList;
  requests?: ResourceList;
  [k: string]: unknown;
}
export interface EnvVar {
  name?: string;
  value?: string;
  [k: string]: unknown;
}
export interface VolumeMount {
  name?: string;
  mountPath?: string;
  [k: string]: unknown;
}
export interface Container {
  name?: string;
  resources?: ResourceRequirements;
  env?: EnvVar[];
  volumeMounts?: VolumeMount[];
  restartPolicy?: string;
  [k: string]: unknown;
}
export interface Toleration {
  key?: string;
  operator?: string;
  value?: string;
  effect?: string;
  [k: string]: unknown;
}
export interface NodeSelectorRequirement {
  key?: string;
  operator?: string;
  values?: string[];
}
export interface NodeSelectorTerm {
  matchExpressions?: NodeSelectorRequirement[];
  matchFields?: NodeSelectorRequirement[];
}
export interface Affinity {
  nodeAffinity?: {
    requiredDuringSchedulingIgnoredDuringExecution?: { nodeSelectorTerms?: NodeSelectorTerm[] };
    [k: string]: unknown;
  };
  [k: string]: unknown;
}
export interface Volume {
  name?: string;
  hostPath?: { path?: string; type?: string };
  [k: string]: unknown;
}
export interface PodSpec {
  containers: Container[];
  initContainers?: Container[];
  volumes?: Volume[];
  tolerations?: Toleration[];
  affinity?: Affinity;
  nodeSelector?: Record<string, string>;
  [k: string]: unknown;
}
export interface Pod {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; generateName?: string; namespace?: string; annotations?: Record<string, string>; [k: string]: unknown };
  spec: PodSpec;
  [k: string]: unknown;
}

// ---- structural checks ------------------------------------------------------

function bad(path: ErrorPath, what: string): never {
  throw new KubeSgxError('WEBHOOK_BAD_OBJECT', `${path.join('.') || 'object'}: ${what}`, { path });
}
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
function optObj(v: unknown, path: ErrorPath): void {
  if (v !== undefined && v !== null && !isObj(v)) bad(path, 'expected an object');
}
function optArr(v: unknown, path: ErrorPath, each?: (x: unknown, p: ErrorPath) => void): void {
  if (v === undefined || v === null) return;
  if (!Array.isArray(v)) bad(path, 'expected an array');
  v.forEach((x, i) => (each ? each(x, [...path, i]) : isObj(x) || bad([...path, i], 'expected an object')));
}
function checkContainer(c: unknown, path: ErrorPath): void {
  if (!isObj(c)) bad(path, 'expected a container object');
  if (c.name !== undefined && typeof c.name !== 'string') bad([...path, 'name'], 'expected a string');
  optObj(c.resources, [...path, 'resources']);
  if (isObj(c.resources)) {
    optObj(c.resources.limits, [...path, 'resources', 'limits']);
    optObj(c.resources.requests, [...path, 'resources', 'requests']);
  }
  optArr(c.env, [...path, 'env']);
  optArr(c.volumeMounts, [...path, 'volumeMounts']);
}

/** Checks the shape of everything the webhook reads; throws WEBHOOK_BAD_OBJECT naming the field. */
export function readPod(obj: unknown): Pod {
  if (!isObj(obj)) bad([], 'expected a Pod object');
  if (obj.kind !== undefined && obj.kind !== 'Pod') bad(['kind'], `expected kind Pod, got ${JSON.stringify(obj.kind)}`);
  optObj(obj.metadata, ['metadata']);
  const meta = obj.metadata as Record<string, unknown> | undefined;
  if (meta) {
    optObj(meta.annotations, ['metadata', 'annotations']);
    for (const [k, v] of Object.entries((meta.annotations as Record<string, unknown> | undefined) ?? {})) {
      if (typeof v !== 'string') bad(['metadata', 'annotations', k], 'expected a string');
    }
  }
  if (!isObj(obj.spec)) bad(['spec'], 'expected a PodSpec object');
  const spec = obj.spec;
  if (!Array.isArray(spec.containers)) bad(['spec', 'containers'], 'expected an array');
  spec.containers.forEach((c, i) => checkContainer(c, ['spec', 'containers', i]));
  optArr(spec.initContainers, ['spec', 'initContainers'], checkContainer);
  optArr(spec.volumes, ['spec', 'volumes']);
  optArr(spec.tolerations, ['spec', 'tolerations']);
  optObj(spec.nodeSelector, ['spec', 'nodeSelector']);
  optObj(spec.affinity, ['spec', 'affinity']);
  const na = isObj(spec.affinity) ? spec.affinity.nodeAffinity : undefined;
  optObj(na, ['spec', 'affinity', 'nodeAffinity']);
  const req = isObj(na) ? na.requiredDuringSchedulingIgnoredDuringExecution : undefined;
  const reqPath = ['spec', 'affinity', 'nodeAffinity', 'requiredDuringSchedulingIgnoredDuringExecution'];
  optObj(req, reqPath);
  if (isObj(req)) {
    optArr(req.nodeSelectorTerms, [...reqPath, 'nodeSelectorTerms'], (t, p) => {
      if (!isObj(t)) bad(p, 'expected an object');
      optArr(t.matchExpressions, [...p, 'matchExpressions']);
    });
  }
  return obj as unknown as Pod;
}

// ---- SGX analysis -----------------------------------------------------------

export type ContainerList = 'containers' | 'initContainers';

/** A problem that makes a pod impossible; `message` says what to change. */
export interface PodProblem {
  code: string;
  message: string;
  path: ErrorPath;
}

export interface ContainerSgx {
  list: ContainerList;
  index: number;
  name: string;
  /** A restartable init container ("sidecar"): runs beside the app containers. */
  sidecar: boolean;
  container: Container;
  /** EPC this container asks for, in bytes (0 = none). */
  epcBytes: bigint;
  /** Parsed integer values of every SGX resource set on the container, by name, for limits and requests. */
  limits: Map<string, bigint>;
  requests: Map<string, bigint>;
}

export interface PodSgx {
  containers: ContainerSgx[];
  /** Containers (app and init) with EPC > 0. */
  epcContainers: ContainerSgx[];
  /** What the pod needs on one node at once: max(app + sidecars, peak init). */
  totalEpcBytes: bigint;
  problems: PodProblem[];
}

function describe(c: { list: ContainerList; name: string }): string {
  return `${c.list === 'initContainers' ? 'init container' : 'container'} ${JSON.stringify(c.name)}`;
}
export { describe as describeContainer };

function analyzeContainer(list: ContainerList, index: number, c: Container, problems: PodProblem[]): ContainerSgx {
  const name = typeof c.name === 'string' ? c.name : `#${index}`;
  const who = describe({ list, name });
  const limits = new Map<string, bigint>();
  const requests = new Map<string, bigint>();
  for (const field of ['limits', 'requests'] as const) {
    const map = c.resources?.[field] ?? {};
    for (const [res, raw] of Object.entries(map)) {
      if (!isSgxResourceName(res)) continue;
      const path = ['spec', list, index, 'resources', field, res];
      if (res.startsWith(INTEL_SGX_RESOURCE_PREFIX) && !KNOWN_INTEL_RESOURCES.includes(res)) {
        problems.push({
          code: 'UNKNOWN_SGX_RESOURCE',
          path,
          message: `${who}: resources.${field}["${res}"] is not a resource any SGX plugin advertises; use "${EPC_RESOURCE}" (bytes, e.g. "10Mi") or "${LEGACY_EPC_RESOURCE}" (MiB count)`,
        });
        continue;
      }
      const what = res === EPC_RESOURCE ? 'bytes' : res === LEGACY_EPC_RESOURCE ? 'MiB' : 'devices';
      try {
        const text = typeof raw === 'number' ? String(raw) : (raw as string);
        (field === 'limits' ? limits : requests).set(res, parseIntegerQuantity(text, path, what));
      } catch (e) {
        const err = e instanceof KubeSgxError ? e : new KubeSgxError('QUANTITY_MALFORMED', String(e));
        problems.push({ code: err.code, path, message: `${who}: resources.${field}["${res}"]: ${err.message}` });
      }
    }
  }
  // Extended resources cannot be overcommitted: request must equal limit.
  for (const [res, lim] of limits) {
    const req = requests.get(res);
    if (req !== undefined && req !== lim) {
      problems.push({
        code: 'LIMIT_REQUEST_MISMATCH',
        path: ['spec', list, index, 'resources', 'requests', res],
        message: `${who}: ${res} request ${show(res, req)} differs from its limit ${show(res, lim)}; set both to the same value (extended resources cannot be overcommitted)`,
      });
    }
  }
  const epcOf = (m: Map<string, bigint>): bigint | undefined => {
    const bytes = m.get(EPC_RESOURCE);
    return bytes !== undefined ? bytes : m.has(LEGACY_EPC_RESOURCE) ? m.get(LEGACY_EPC_RESOURCE)! * MIB : undefined;
  };
  const epcBytes = epcOf(limits) ?? epcOf(requests) ?? 0n;
  // Both names set: they describe the same EPC and must agree (legacy = bytes rounded up to MiB).
  for (const m of [limits, requests]) {
    const bytes = m.get(EPC_RESOURCE);
    const mib = m.get(LEGACY_EPC_RESOURCE);
    if (bytes !== undefined && mib !== undefined && ceilDiv(bytes, MIB) !== mib) {
      problems.push({
        code: 'EPC_NAMES_CONFLICT',
        path: ['spec', list, index, 'resources'],
        message: `${who}: ${EPC_RESOURCE} ${formatBinarySI(bytes)} and ${LEGACY_EPC_RESOURCE} ${mib} (= ${formatBinarySI(mib * MIB)}) disagree; set only one of them, or make them equal`,
      });
      break;
    }
  }
  return { list, index, name, sidecar: list === 'initContainers' && c.restartPolicy === 'Always', container: c, epcBytes, limits, requests };
}

function show(res: string, v: bigint): string {
  return res === EPC_RESOURCE ? formatBinarySI(v) : v.toString();
}

export function analyzePod(pod: Pod): PodSgx {
  const problems: PodProblem[] = [];
  const containers: ContainerSgx[] = [];
  (pod.spec.initContainers ?? []).forEach((c, i) => containers.push(analyzeContainer('initContainers', i, c, problems)));
  pod.spec.containers.forEach((c, i) => containers.push(analyzeContainer('containers', i, c, problems)));
  const epcContainers = containers.filter((c) => c.epcBytes > 0n);

  // Effective pod request (as the scheduler computes it, sidecars included).
  let running = 0n;
  let sidecarsSoFar = 0n;
  let initPeak = 0n;
  for (const c of containers) {
    if (c.list === 'containers' || c.sidecar) running += c.epcBytes;
    if (c.list === 'initContainers') {
      if (c.sidecar) sidecarsSoFar += c.epcBytes;
      else if (c.epcBytes + sidecarsSoFar > initPeak) initPeak = c.epcBytes + sidecarsSoFar;
    }
  }
  const totalEpcBytes = running > initPeak ? running : initPeak;
  return { containers, epcContainers, totalEpcBytes, problems };
}
