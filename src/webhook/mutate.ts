/**
 * The mutating half: for a pod that asks for EPC, a JSON Patch (RFC 6902)
 * that adds what the pod needs to run on an SGX node — and nothing a user
 * already set. Rules that make the patch safe to apply and idempotent:
 *
 * - Ops are computed against the object as received; a missing parent is
 *   created by adding the whole subtree (`/spec/tolerations`, `…/env`), an
 *   existing array is appended to with `/-`.
 * - Look-ups before every addition: env by name, mounts by mountPath, volumes
 *   by name or host path, resources by key, tolerations by what they tolerate,
 *   node-affinity terms by the SGX label expression. A second pass finds
 *   everything in place and returns `[]`.
 * - The only removal is renaming: an EPC name the cluster does not advertise
 *   (config `epcResourceNames`) is replaced by the equivalent advertised one,
 *   so the amount the user wrote is kept, under a name some node can satisfy.
 */
import { KubeSgxError } from '../errors.js';
import { AESMD_CONTAINER_NAME, AESM_ADDR_ENV, ENCLAVE_RESOURCE, EPC_RESOURCE, PROVISION_RESOURCE, isSgxResourceName } from '../names.js';
import { EPC_NAMES, quoteProviderOf, type WebhookConfig } from './config.js';
import { analyzePod, readPod, type ContainerSgx, type NodeSelectorRequirement, type Pod, type Toleration } from './pod.js';
import { MIB, ceilDiv, formatBinarySI } from './quantity.js';

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace';
  path: string;
  value?: unknown;
}

/** RFC 6901: `~` → `~0`, then `/` → `~1`. */
export function escapeJsonPointer(segment: string | number): string {
  const s = String(segment);
  if (s.indexOf('~') < 0 && s.indexOf('/') < 0) return s;
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}
export function jsonPointer(...segments: Array<string | number>): string {
  let out = '';
  for (const s of segments) out += '/' + escapeJsonPointer(s);
  return out;
}

/** Codes of problems that make a patch impossible to compute (the mutating webhook denies on them). */
const UNPATCHABLE = new Set(['QUANTITY_MALFORMED', 'QUANTITY_NOT_INTEGER', 'QUANTITY_NEGATIVE', 'QUANTITY_TOO_LARGE', 'EPC_NAMES_CONFLICT']);

/**
 * The patch for one pod. Pods without EPC get `[]`. Throws WEBHOOK_BAD_OBJECT
 * for a malformed object and WEBHOOK_POD_INVALID (message = what to change)
 * when an EPC quantity cannot be read.
 */
export function mutatePod(podObject: unknown, config: WebhookConfig): JsonPatchOp[] {
  const pod = readPod(podObject);
  const sgx = analyzePod(pod);
  // An SGX quantity that cannot be read may hide an EPC request: refuse rather than guess.
  const fatal = sgx.problems.filter((p) => UNPATCHABLE.has(p.code));
  if (fatal.length > 0) {
    throw new KubeSgxError('WEBHOOK_POD_INVALID', fatal.map((p) => p.message).join('; '), {
      path: fatal[0]!.path,
      details: { problems: fatal },
    });
  }
  if (sgx.epcContainers.length === 0) return [];
  const ops: JsonPatchOp[] = [];
  const provider = quoteProviderOf(pod.metadata?.annotations)?.value;
  const requested = new Set<string>();

  for (const c of sgx.epcContainers) {
    const resources = desiredResources(c, config, provider === c.name);
    for (const k of Object.keys(resources.limits ?? {})) if (isSgxResourceName(k)) requested.add(k);
    if (resources !== c.container.resources) ops.push({ op: 'add', path: jsonPointer('spec', c.list, c.index, 'resources'), value: resources });
  }
  if (provider === 'aesmd') addAesmd(pod, sgx.epcContainers, config, ops);
  addTolerations(pod, config, requested, ops);
  addNodeAffinity(pod, config, ops);

  const annotations = pod.metadata?.annotations;
  const total = formatBinarySI(sgx.totalEpcBytes);
  if (!pod.metadata) ops.push({ op: 'add', path: '/metadata', value: { annotations: { [config.epcAnnotation]: total } } });
  else if (!annotations) ops.push({ op: 'add', path: '/metadata/annotations', value: { [config.epcAnnotation]: total } });
  else if (!(config.epcAnnotation in annotations)) ops.push({ op: 'add', path: jsonPointer('metadata', 'annotations', config.epcAnnotation), value: total });
  return ops;
}


/**
 * The container's resources as they should be; the same object when nothing
 * changes (so the caller can tell), otherwise a copy with additions.
 */
function desiredResources(c: ContainerSgx, config: WebhookConfig, provisions: boolean): NonNullable<Pod['spec']['containers'][number]['resources']> {
  const original = c.container.resources ?? {};
  // Copied key by key, leaving out EPC names no node advertises (renamed
  // below): no `delete` (dictionary-mode objects) and no spread copies, which
  // made V8 allocate new hidden classes in the old generation per review.
  const limits: Record<string, unknown> = {};
  const requests: Record<string, unknown> = {};
  const droppedLimit = copyAdvertised(original.limits, limits, config);
  let changed = copyAdvertised(original.requests, requests, config) || droppedLimit;
  for (const name of config.epcResourceNames) {
    // Keep the user's own spelling when they wrote one side only.
    const text = (limits[name] ?? requests[name] ?? epcAmount(name, c.epcBytes)) as string;
    changed = setMissing(limits, name, text) || changed;
    changed = setMissing(requests, name, limits[name] as string) || changed;
  }
  const devices = provisions ? [ENCLAVE_RESOURCE, PROVISION_RESOURCE] : [ENCLAVE_RESOURCE];
  for (const d of devices) {
    changed = setMissing(limits, d, (requests[d] as string | undefined) ?? '1') || changed;
    changed = setMissing(requests, d, limits[d] as string) || changed;
  }
  // Any other SGX name set on one side only: mirror it (limit is what kubelet reads).
  for (const k in limits) if (isSgxResourceName(k)) changed = setMissing(requests, k, limits[k] as string) || changed;
  for (const k in requests) if (isSgxResourceName(k)) changed = setMissing(limits, k, requests[k] as string) || changed;
  if (!changed) return original;
  const desired = Object.assign({}, original);
  desired.limits = limits as typeof desired.limits;
  desired.requests = requests as typeof desired.requests;
  return desired;
}

/** Copies `from` into `to` without the EPC names that no node advertises; true when it left one out. */
function copyAdvertised(from: Record<string, unknown> | undefined, to: Record<string, unknown>, config: WebhookConfig): boolean {
  let dropped = false;
  for (const k in from) {
    if ((EPC_NAMES as readonly string[]).includes(k) && !(config.epcResourceNames as readonly string[]).includes(k)) dropped = true;
    else to[k] = from[k];
  }
  return dropped;
}

/** Adds `key: value` unless the key is there; true when it added. */
function setMissing(m: Record<string, unknown>, key: string, value: string): boolean {
  if (key in m) return false;
  m[key] = value;
  return true;
}

function epcAmount(name: string, bytes: bigint): string {
  return name === EPC_RESOURCE ? formatBinarySI(bytes) : ceilDiv(bytes, MIB).toString();
}

/**
 * Out-of-process quoting through aesmd (or kube-sgx's quote helper, which
 * speaks its protocol). Every EPC container gets SGX_AESM_ADDR=1. Where the
 * socket comes from depends on where aesmd runs, as in Intel's webhook:
 *
 * - on the node (the usual case): from the device plugin's Allocate response
 *   for the enclave device, which bind-mounts the socket directory — the pod
 *   gets no volume, so it stays within Pod Security "baseline";
 * - in the pod, as a container named "aesmd" beside other EPC containers
 *   (Intel's sidecar layout): an in-memory emptyDir shared by all of them;
 * - the pod is aesmd itself (one EPC container named "aesmd", Intel's aesmd
 *   DaemonSet): the host directory, where it creates the socket for the node.
 */
function addAesmd(pod: Pod, epcContainers: ContainerSgx[], config: WebhookConfig, ops: JsonPatchOp[]): void {
  const { hostPath, mountPath, volumeName } = config.aesmd;
  const hasAesmd = epcContainers.some((c) => c.list === 'containers' && c.name === AESMD_CONTAINER_NAME);
  const layout: 'node' | 'sidecar' | 'daemon' = !hasAesmd ? 'node' : epcContainers.length >= 2 ? 'sidecar' : 'daemon';
  const volumes = pod.spec.volumes ?? [];
  // A volume the user already named so is theirs: mount it as it is.
  const existing = volumes.find((v) => v.name === volumeName);
  let needVolume = false;
  for (const c of epcContainers) {
    const mounts = c.container.volumeMounts;
    // A mount at that path under another name means the user wired it themselves.
    if (layout !== 'node' && !mounts?.some((m) => m.mountPath === mountPath)) {
      needVolume = true;
      const mount = { name: volumeName, mountPath };
      if (mounts) ops.push({ op: 'add', path: jsonPointer('spec', c.list, c.index, 'volumeMounts', '-'), value: mount });
      else ops.push({ op: 'add', path: jsonPointer('spec', c.list, c.index, 'volumeMounts'), value: [mount] });
    }
    const env = c.container.env;
    if (!env?.some((e) => e.name === AESM_ADDR_ENV)) {
      const v = { name: AESM_ADDR_ENV, value: '1' };
      if (env) ops.push({ op: 'add', path: jsonPointer('spec', c.list, c.index, 'env', '-'), value: v });
      else ops.push({ op: 'add', path: jsonPointer('spec', c.list, c.index, 'env'), value: [v] });
    }
  }
  if (needVolume && !existing) {
    const v =
      layout === 'sidecar'
        ? { name: volumeName, emptyDir: { medium: 'Memory' } }
        : { name: volumeName, hostPath: { path: hostPath, type: 'DirectoryOrCreate' } };
    if (pod.spec.volumes) ops.push({ op: 'add', path: '/spec/volumes/-', value: v });
    else ops.push({ op: 'add', path: '/spec/volumes', value: [v] });
  }
}

/** Whether toleration `t` tolerates a taint (Kubernetes' ToleratesTaint). */
export function toleratesTaint(t: Toleration, taint: { key: string; value?: string; effect: string }): boolean {
  if (t.effect && t.effect !== taint.effect) return false;
  if (t.operator === 'Exists') return !t.key || t.key === taint.key;
  if (t.key !== taint.key) return false;
  return (t.value ?? '') === (taint.value ?? '');
}

function addTolerations(pod: Pod, config: WebhookConfig, requested: Set<string>, ops: JsonPatchOp[]): void {
  const wanted: Array<{ key: string; value?: string; effect: string }> = [...config.taints];
  if (config.tolerateRequestedResources) for (const r of [...requested].sort()) wanted.push({ key: r, effect: 'NoSchedule' });
  const have: Toleration[] = [...(pod.spec.tolerations ?? [])];
  const add: Toleration[] = [];
  for (const taint of wanted) {
    if (have.some((t) => toleratesTaint(t, taint))) continue;
    const t: Toleration =
      taint.value === undefined
        ? { key: taint.key, operator: 'Exists', effect: taint.effect }
        : { key: taint.key, operator: 'Equal', value: taint.value, effect: taint.effect };
    have.push(t);
    add.push(t);
  }
  if (add.length === 0) return;
  if (pod.spec.tolerations) for (const t of add) ops.push({ op: 'add', path: '/spec/tolerations/-', value: t });
  else ops.push({ op: 'add', path: '/spec/tolerations', value: add });
}

/** The expression that pins a pod to SGX nodes. */
export function sgxNodeRequirement(config: WebhookConfig): NodeSelectorRequirement {
  return { key: config.nodeLabel.key, operator: 'In', values: [config.nodeLabel.value] };
}

function termHasSgx(exprs: NodeSelectorRequirement[] | undefined, config: WebhookConfig): boolean {
  return (exprs ?? []).some(
    (e) =>
      e.key === config.nodeLabel.key &&
      e.operator === 'In' &&
      Array.isArray(e.values) &&
      e.values.length > 0 &&
      e.values.every((v) => v === config.nodeLabel.value),
  );
}

/**
 * Required node affinity to SGX nodes. nodeSelectorTerms are ORed and the
 * expressions inside one term ANDed, so appending a separate SGX term would
 * let the pod go to any node matching a user term. Instead the SGX expression
 * is added to every existing term: (A ∨ B) becomes (A ∧ sgx) ∨ (B ∧ sgx).
 */
function addNodeAffinity(pod: Pod, config: WebhookConfig, ops: JsonPatchOp[]): void {
  if (pod.spec.nodeSelector?.[config.nodeLabel.key] === config.nodeLabel.value) return;
  const expr = sgxNodeRequirement(config);
  const affinity = pod.spec.affinity;
  const required = { nodeSelectorTerms: [{ matchExpressions: [expr] }] };
  if (!affinity) return void ops.push({ op: 'add', path: '/spec/affinity', value: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: required } } });
  const na = affinity.nodeAffinity;
  if (!na) return void ops.push({ op: 'add', path: '/spec/affinity/nodeAffinity', value: { requiredDuringSchedulingIgnoredDuringExecution: required } });
  const base = '/spec/affinity/nodeAffinity/requiredDuringSchedulingIgnoredDuringExecution';
  const req = na.requiredDuringSchedulingIgnoredDuringExecution;
  if (!req) return void ops.push({ op: 'add', path: base, value: required });
  const terms = req.nodeSelectorTerms;
  if (!terms || terms.length === 0) return void ops.push({ op: 'add', path: `${base}/nodeSelectorTerms`, value: required.nodeSelectorTerms });
  terms.forEach((term, i) => {
    if (termHasSgx(term.matchExpressions, config)) return;
    if (term.matchExpressions) ops.push({ op: 'add', path: `${base}/nodeSelectorTerms/${i}/matchExpressions/-`, value: expr });
    else ops.push({ op: 'add', path: `${base}/nodeSelectorTerms/${i}/matchExpressions`, value: [expr] });
  });
}
