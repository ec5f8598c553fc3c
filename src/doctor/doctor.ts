/**
 * `kube-sgx doctor`: reads a cluster and reports what would stop SGX pods
 * from running or from scaling out:
 *
 * - SGX nodes without the SGX label or the pool taint, without EPC capacity
 *   (kubelet zeroes extended resources when a node is re-created), without
 *   enclave slots, or without a running node agent / quote helper;
 * - missing webhook configurations, `failurePolicy: Ignore`, and CA bundles or
 *   serving certificates that are expired or about to expire;
 * - cluster-autoscaler node groups that can scale from zero but whose template
 *   lacks EPC (Cluster API infrastructure template `status.capacity`; AWS ASG /
 *   Azure VMSS tags from a file), so scale-from-zero never triggers.
 *
 * Read-only: list/get on nodes, pods, daemonsets, secrets, webhook
 * configurations and Cluster API objects. Anything the caller may not read is
 * reported as a note, not a crash.
 */
import {
  AdmissionregistrationV1Api,
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Node,
  type V1Pod,
} from '@kubernetes/client-node';
import { z } from 'zod';
import { parse as parseYaml } from 'yaml';
import { KubeSgxError } from '../errors.js';
import { ENCLAVE_RESOURCE, EPC_RESOURCE, LEGACY_EPC_RESOURCE, SGX_NODE_LABELS, isSgxResourceName } from '../names.js';
import { defaultWebhookConfig, type WebhookConfig } from '../webhook/config.js';
import { parsePemCertificates } from '../webhook/certs.js';
import { nodeEpcBytes } from '../webhook/nodecap.js';
import { formatBinarySI } from '../webhook/quantity.js';
import type { X509Certificate } from 'node:crypto';

export type DoctorSeverity = 'error' | 'warning';

export interface DoctorFinding {
  severity: DoctorSeverity;
  code: string;
  /** What the finding is about: `node/<name>`, `daemonset/<ns>/<name>`, `machinedeployment/<ns>/<name>`, … */
  subject: string;
  message: string;
  /** What to do about it. */
  fix: string;
}

export interface DoctorReport {
  /** True when nothing was found. */
  ok: boolean;
  /** Findings by severity: `kube-sgx doctor` exits 1 only when errors > 0. */
  errors: number;
  warnings: number;
  checkedAt: string;
  sgxNodes: string[];
  findings: DoctorFinding[];
  /** Things that could not be checked, and why. */
  notes: string[];
}

/** A cloud node group's autoscaler tags (AWS ASG or Azure VMSS), which the Kubernetes API does not show. */
export const nodeGroupTemplateSchema = z
  .object({
    name: z.string().min(1),
    provider: z.enum(['aws', 'azure']),
    minSize: z.number().int().min(0).optional(),
    /** Force treating the group as SGX (otherwise: an SGX label, taint or EPC tag marks it). */
    sgx: z.boolean().optional(),
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict();
export type NodeGroupTemplate = z.output<typeof nodeGroupTemplateSchema>;

export function parseNodeGroupTemplates(text: string): NodeGroupTemplate[] {
  let data: unknown;
  try {
    data = parseYaml(text);
  } catch (e) {
    throw new KubeSgxError('DOCTOR_NODE_GROUPS_INVALID', `node groups file is not YAML/JSON: ${(e as Error).message}`);
  }
  const r = z.array(nodeGroupTemplateSchema).safeParse(data);
  if (!r.success) {
    const i = r.error.issues[0]!;
    const path = i.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    throw new KubeSgxError('DOCTOR_NODE_GROUPS_INVALID', `node groups file: ${path.join('.') || '(root)'}: ${i.message}`, { path });
  }
  return r.data;
}

export interface DoctorOptions {
  kubeConfig: KubeConfig;
  config?: WebhookConfig;
  now?: Date;
  nodeGroups?: NodeGroupTemplate[];
}

function httpCode(e: unknown): number | undefined {
  const c = (e as { code?: unknown }).code;
  return typeof c === 'number' ? c : undefined;
}

function isSgxNode(n: V1Node, config: WebhookConfig): boolean {
  const labels = n.metadata?.labels ?? {};
  if (labels[config.nodeLabel.key] === config.nodeLabel.value) return true;
  if (SGX_NODE_LABELS.some(([k, v]) => labels[k] === v)) return true;
  const cap = { ...(n.status?.capacity ?? {}) };
  return cap[EPC_RESOURCE] !== undefined || cap[LEGACY_EPC_RESOURCE] !== undefined;
}

function podReady(p: V1Pod): boolean {
  return p.status?.phase === 'Running' && (p.status.conditions ?? []).some((c) => c.type === 'Ready' && c.status === 'True');
}

export async function runDoctor(opts: DoctorOptions): Promise<DoctorReport> {
  const config = opts.config ?? defaultWebhookConfig;
  const now = opts.now ?? new Date();
  const findings: DoctorFinding[] = [];
  const notes: string[] = [];
  const add = (severity: DoctorSeverity, code: string, subject: string, message: string, fix: string) =>
    findings.push({ severity, code, subject, message, fix });
  const core = opts.kubeConfig.makeApiClient(CoreV1Api);
  const apps = opts.kubeConfig.makeApiClient(AppsV1Api);
  const admission = opts.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
  const custom = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  const ns = config.namespace;

  // ---- nodes ----
  let nodes: V1Node[];
  try {
    nodes = (await core.listNode()).items;
  } catch (e) {
    throw new KubeSgxError('DOCTOR_API_UNREACHABLE', `cannot list nodes: ${(e as Error).message}`, { cause: e });
  }
  const sgxNodes = nodes.filter((n) => isSgxNode(n, config));
  const sgxNames = sgxNodes.map((n) => n.metadata?.name ?? '?');
  if (sgxNodes.length === 0) notes.push('no SGX node found (by label or EPC capacity); node checks skipped');
  for (const n of sgxNodes) {
    const name = `node/${n.metadata?.name ?? '?'}`;
    const labels = n.metadata?.labels ?? {};
    const { key, value } = config.nodeLabel;
    if (labels[key] !== value) {
      add('error', 'NODE_LABEL_MISSING', name, `SGX node lacks label ${key}=${value}, so the webhook's node affinity never selects it`, `kubectl label node ${n.metadata?.name} ${key}=${value} (the node agent sets it when it runs with node updates enabled)`);
    }
    for (const t of config.taints) {
      const has = (n.spec?.taints ?? []).some((x) => x.key === t.key && x.effect === t.effect && (t.value === undefined || x.value === t.value));
      if (!has) {
        const spec = `${t.key}${t.value !== undefined ? `=${t.value}` : ''}:${t.effect}`;
        // A warning: an untainted SGX node still runs SGX pods; it only lets other pods take its CPU and memory.
        add('warning', 'NODE_TAINT_MISSING', name, `SGX node lacks taint ${spec}, so ordinary pods can fill it and crowd out SGX pods`, `kubectl taint node ${n.metadata?.name} ${spec} (or set it in the node pool's configuration)`);
      }
    }
    const epc = nodeEpcBytes(n);
    if (epc === undefined || epc === 0n) {
      add('error', 'NODE_EPC_MISSING', name, `SGX node advertises no EPC (${config.epcResourceNames.join(', ')} absent or 0 in capacity): kubelet resets extended resources when a node is re-created, and nothing re-asserted it`, 'check that the kube-sgx node agent runs on the node and may patch nodes/status; its logs say why EPC is not advertised');
    } else {
      const cap = n.status?.capacity ?? {};
      for (const r of config.epcResourceNames) {
        if (cap[r] === undefined) add('error', 'NODE_EPC_NAME_MISSING', name, `SGX node has ${formatBinarySI(epc)} of EPC but does not advertise ${r}, which the webhook emits on pods`, `enable ${r} in the node agent's --resources, or drop it from the webhook config's epcResourceNames`);
      }
    }
    if (!n.status?.allocatable?.[ENCLAVE_RESOURCE] || n.status.allocatable[ENCLAVE_RESOURCE] === '0') {
      add('error', 'NODE_ENCLAVE_MISSING', name, `SGX node has no allocatable ${ENCLAVE_RESOURCE}: pods get /dev/sgx_enclave only through it`, 'check the node agent\'s device plugin registration (kubelet restarts need a re-register)');
    }
  }

  // ---- node agent and quote helper ----
  for (const [what, dsName, code] of [
    ['node agent', config.doctor.nodeAgentDaemonSet, 'NODE_AGENT_MISSING'],
    ['quote helper', config.doctor.quoteHelperDaemonSet, 'QUOTE_HELPER_MISSING'],
  ] as const) {
    const subject = `daemonset/${ns}/${dsName}`;
    let selector: Record<string, string> | undefined;
    try {
      const ds = await apps.readNamespacedDaemonSet({ name: dsName, namespace: ns });
      selector = ds.spec?.selector?.matchLabels;
    } catch (e) {
      if (httpCode(e) === 404) {
        add('error', code, subject, `the ${what} DaemonSet does not exist`, `install kube-sgx (kubectl apply -k deploy/...) or set doctor.${what === 'node agent' ? 'nodeAgentDaemonSet' : 'quoteHelperDaemonSet'} in the config`);
      } else notes.push(`cannot read ${subject}: ${(e as Error).message}`);
      continue;
    }
    const labelSelector = Object.entries(selector ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
    let pods: V1Pod[] = [];
    try {
      pods = (await core.listNamespacedPod({ namespace: ns, labelSelector })).items;
    } catch (e) {
      notes.push(`cannot list pods of ${subject}: ${(e as Error).message}`);
      continue;
    }
    const readyOn = new Set(pods.filter(podReady).map((p) => p.spec?.nodeName));
    for (const n of sgxNames) {
      if (!readyOn.has(n)) {
        add('error', code, `node/${n}`, `no ready ${what} pod (${subject}) on this SGX node`, `kubectl -n ${ns} get pods -l ${labelSelector} -o wide; check the DaemonSet's nodeSelector/tolerations match the SGX pool`);
      }
    }
  }

  // ---- webhook configurations and certificates ----
  const cas: X509Certificate[] = [];
  const checkCert = (c: X509Certificate, subject: string, what: string) => {
    const left = (new Date(c.validTo).getTime() - now.getTime()) / 86_400_000;
    if (left < 0) add('error', 'CERT_EXPIRED', subject, `${what} expired on ${new Date(c.validTo).toISOString()}`, 'rotate it: kube-sgx webhook certs --out DIR --dns-name <svc>.<ns>.svc, then update the Secret and caBundle (or let cert-manager renew it)');
    else if (left < config.doctor.certWarnDays) add('warning', 'CERT_EXPIRING', subject, `${what} expires in ${Math.floor(left)} days (${new Date(c.validTo).toISOString()})`, 'renew it before it expires; the API server then refuses SGX pods (failurePolicy Fail)');
  };
  for (const [kind, list] of [
    ['mutatingwebhookconfiguration', () => admission.listMutatingWebhookConfiguration()],
    ['validatingwebhookconfiguration', () => admission.listValidatingWebhookConfiguration()],
  ] as const) {
    let items: Array<{ metadata?: { name?: string }; webhooks?: Array<{ name: string; failurePolicy?: string; clientConfig: { caBundle?: string } }> }>;
    try {
      items = (await list()).items;
    } catch (e) {
      notes.push(`cannot list ${kind}s: ${(e as Error).message}`);
      continue;
    }
    const ours = items.filter((i) => i.metadata?.name === config.doctor.webhookConfigurationName || (i.webhooks ?? []).some((w) => w.name.endsWith('.kube-sgx.io')));
    if (ours.length === 0) {
      add('error', 'WEBHOOK_MISSING', `${kind}/${config.doctor.webhookConfigurationName}`, `no kube-sgx ${kind}: SGX pods are ${kind.startsWith('mutating') ? 'not given devices, tolerations or affinity' : 'not checked'}`, 'kube-sgx webhook manifests --ca-bundle ca.crt | kubectl apply -f -');
      continue;
    }
    for (const cfgObj of ours) {
      for (const w of cfgObj.webhooks ?? []) {
        const subject = `${kind}/${cfgObj.metadata?.name}/${w.name}`;
        if (w.failurePolicy === 'Ignore') {
          add('warning', 'WEBHOOK_FAILURE_POLICY_IGNORE', subject, 'failurePolicy Ignore: while the webhook is unreachable, SGX pods are admitted unmutated (EPC but no enclave device)', 'regenerate with kube-sgx webhook manifests (failurePolicy Fail, scoped to SGX pods by matchConditions)');
        }
        const bundle = w.clientConfig.caBundle;
        if (!bundle) {
          add('error', 'WEBHOOK_CA_BUNDLE_MISSING', subject, 'clientConfig.caBundle is empty, so the API server cannot verify the webhook (unless its certificate chains to the system roots)', 'kube-sgx webhook manifests --ca-bundle ca.crt | kubectl apply -f -');
          continue;
        }
        try {
          const certs = parsePemCertificates(Buffer.from(bundle, 'base64').toString('utf8'));
          if (certs.length === 0) throw new Error('no PEM certificate in it');
          for (const c of certs) {
            checkCert(c, subject, `caBundle certificate ${c.subject.replace(/\n/g, ', ')}`);
            cas.push(c);
          }
        } catch (e) {
          add('error', 'WEBHOOK_CA_BUNDLE_INVALID', subject, `caBundle does not parse: ${(e as Error).message}`, 'regenerate it with kube-sgx webhook manifests --ca-bundle ca.crt');
        }
      }
    }
  }
  const secretSubject = `secret/${ns}/${config.doctor.webhookTlsSecret}`;
  try {
    const secret = await core.readNamespacedSecret({ name: config.doctor.webhookTlsSecret, namespace: ns });
    const crt = secret.data?.['tls.crt'];
    if (!crt) add('error', 'WEBHOOK_TLS_SECRET_EMPTY', secretSubject, 'the serving Secret has no tls.crt', 'recreate it from kube-sgx webhook certs output (tls.crt, tls.key)');
    else {
      const [leaf] = parsePemCertificates(Buffer.from(crt, 'base64').toString('utf8'));
      if (!leaf) add('error', 'WEBHOOK_TLS_SECRET_EMPTY', secretSubject, 'tls.crt holds no certificate', 'recreate the Secret');
      else {
        checkCert(leaf, secretSubject, 'webhook serving certificate');
        if (cas.length > 0 && !cas.some((ca) => leaf.checkIssued(ca) && leaf.verify(ca.publicKey))) {
          add('error', 'WEBHOOK_CERT_NOT_TRUSTED', secretSubject, 'the serving certificate is not signed by any CA in the webhook caBundle: every call fails TLS verification', 'put the issuing CA into caBundle (kube-sgx webhook manifests --ca-bundle ca.crt)');
        }
      }
    }
  } catch (e) {
    if (httpCode(e) === 404) notes.push(`${secretSubject} not found; serving certificate not checked`);
    else notes.push(`cannot read ${secretSubject}: ${(e as Error).message}`);
  }

  // ---- cluster autoscaler: Cluster API node groups ----
  await checkClusterApi(custom, config, add, notes);
  // ---- cluster autoscaler: cloud node-group tags ----
  for (const g of opts.nodeGroups ?? []) checkCloudNodeGroup(g, config, add);

  const errors = findings.filter((f) => f.severity === 'error').length;
  return { ok: findings.length === 0, errors, warnings: findings.length - errors, checkedAt: now.toISOString(), sgxNodes: sgxNames, findings, notes };
}

type Add = (severity: DoctorSeverity, code: string, subject: string, message: string, fix: string) => void;
type Unstructured = { metadata?: { name?: string; namespace?: string; annotations?: Record<string, string>; ownerReferences?: Array<{ kind?: string }> }; spec?: { template?: { metadata?: { labels?: Record<string, string> }; spec?: { infrastructureRef?: { apiVersion?: string; apiGroup?: string; kind?: string; name?: string } } } } };

const CAPI_MIN_SIZE = 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size';
const CAPI_LABELS = 'capacity.cluster-autoscaler.kubernetes.io/labels';
const CAPI_TAINTS = 'capacity.cluster-autoscaler.kubernetes.io/taints';

async function checkClusterApi(custom: CustomObjectsApi, config: WebhookConfig, add: Add, notes: string[]): Promise<void> {
  for (const version of ['v1beta2', 'v1beta1']) {
    const groups: Unstructured[] = [];
    try {
      for (const plural of ['machinedeployments', 'machinesets']) {
        const list = (await custom.listClusterCustomObject({ group: 'cluster.x-k8s.io', version, plural })) as { items?: Unstructured[] };
        for (const item of list.items ?? []) {
          // A MachineSet owned by a MachineDeployment is scaled through the deployment.
          if (plural === 'machinesets' && (item.metadata?.ownerReferences ?? []).some((o) => o.kind === 'MachineDeployment')) continue;
          groups.push(item);
        }
      }
    } catch (e) {
      if (httpCode(e) === 404) continue;
      notes.push(`cannot list Cluster API ${version} node groups: ${(e as Error).message}`);
      return;
    }
    for (const g of groups) await checkCapiGroup(custom, g, config, add, notes);
    return;
  }
  notes.push('Cluster API not installed (cluster.x-k8s.io); Cluster API node groups not checked');
}

async function checkCapiGroup(custom: CustomObjectsApi, g: Unstructured, config: WebhookConfig, add: Add, notes: string[]): Promise<void> {
  const ann = g.metadata?.annotations ?? {};
  if (ann[CAPI_MIN_SIZE] !== '0') return; // scale-from-zero only matters at zero
  const subject = `machinedeployment/${g.metadata?.namespace}/${g.metadata?.name}`;
  const { key, value } = config.nodeLabel;
  const annLabels = Object.fromEntries((ann[CAPI_LABELS] ?? '').split(',').filter(Boolean).map((kv) => kv.split('=', 2) as [string, string]));
  const labels = { ...(g.spec?.template?.metadata?.labels ?? {}), ...annLabels };
  const taints = ann[CAPI_TAINTS] ?? '';
  let capacity: Record<string, string> = {};
  const ref = g.spec?.template?.spec?.infrastructureRef;
  if (ref?.kind && ref.name) {
    const [group, version] = ref.apiVersion ? (ref.apiVersion.includes('/') ? ref.apiVersion.split('/') : ['', ref.apiVersion]) : [ref.apiGroup ?? '', undefined];
    const plural = `${ref.kind.toLowerCase()}s`;
    for (const v of version ? [version] : ['v1beta2', 'v1beta1', 'v1alpha1']) {
      try {
        const infra = (await custom.getNamespacedCustomObject({ group: group!, version: v, namespace: g.metadata?.namespace ?? 'default', plural, name: ref.name })) as { status?: { capacity?: Record<string, string> } };
        capacity = infra.status?.capacity ?? {};
        break;
      } catch (e) {
        if (httpCode(e) !== 404) {
          notes.push(`cannot read ${ref.kind} ${ref.name} for ${subject}: ${(e as Error).message}`);
          break;
        }
      }
    }
  }
  const hasEpc = config.epcResourceNames.some((r) => capacity[r] !== undefined && capacity[r] !== '0');
  const isSgx = labels[key] === value || config.taints.some((t) => taints.includes(t.key)) || Object.keys(capacity).some(isSgxResourceName) || SGX_NODE_LABELS.some(([k, v]) => labels[k] === v);
  if (!isSgx) return;
  if (!hasEpc) {
    add('error', 'AUTOSCALER_TEMPLATE_NO_EPC', subject, `node group scales from zero but its template has no ${config.epcResourceNames.join('/')} capacity: cluster-autoscaler predicts nodes without EPC and never scales up for SGX pods`, `have the infrastructure template (${ref?.kind ?? '?'} ${ref?.name ?? '?'}) report status.capacity["${config.epcResourceNames[0]}"] (the capacity.cluster-autoscaler.kubernetes.io/* annotations carry only cpu, memory, ephemeral-disk, maxPods and GPUs), or keep the group's min size ≥ 1`);
  }
  if (labels[key] !== value) {
    add('error', 'AUTOSCALER_TEMPLATE_NO_LABEL', subject, `node group scales from zero but its template lacks label ${key}=${value}, which the webhook's required node affinity selects`, `add ${key}=${value} to the ${CAPI_LABELS} annotation (or the template's labels)`);
  }
}

/** AWS ASG tag names (`/` kept) and Azure VMSS tag names (`/` → `_`; `_` in a label name → `~2`). */
function cloudTag(provider: 'aws' | 'azure', kind: 'resources' | 'label' | 'taint', name: string): string {
  if (provider === 'aws') return `k8s.io/cluster-autoscaler/node-template/${kind}/${name}`;
  const enc = kind === 'resources' ? name.replace(/\//g, '_') : name.replace(/_/g, '~2').replace(/\//g, '_');
  return `k8s.io_cluster-autoscaler_node-template_${kind}_${enc}`;
}

function checkCloudNodeGroup(g: NodeGroupTemplate, config: WebhookConfig, add: Add): void {
  const subject = `nodegroup/${g.provider}/${g.name}`;
  const { key, value } = config.nodeLabel;
  const labelTag = cloudTag(g.provider, 'label', key);
  const resourceTags = config.epcResourceNames.map((r) => cloudTag(g.provider, 'resources', r));
  const isSgx =
    g.sgx === true ||
    g.tags[labelTag] === value ||
    resourceTags.some((t) => t in g.tags) ||
    config.taints.some((t) => cloudTag(g.provider, 'taint', t.key) in g.tags);
  if (!isSgx || (g.minSize ?? 0) > 0) return;
  if (g.provider === 'azure' && config.epcResourceNames.includes(LEGACY_EPC_RESOURCE)) {
    add('error', 'AUTOSCALER_NAME_INEXPRESSIBLE', subject, `${LEGACY_EPC_RESOURCE} cannot be written as a VMSS tag (its "_" decodes to "/"), so a from-zero template can never offer it`, `emit ${EPC_RESOURCE} only (webhook config epcResourceNames), or keep the pool's min count ≥ 1`);
  }
  const usable = resourceTags.filter((t, i) => !(g.provider === 'azure' && config.epcResourceNames[i] === LEGACY_EPC_RESOURCE));
  if (usable.length > 0 && !usable.every((t) => t in g.tags)) {
    const missing = usable.filter((t) => !(t in g.tags));
    add('error', 'AUTOSCALER_TEMPLATE_NO_EPC', subject, `node group can scale from zero but lacks tag ${missing.join(', ')}: cluster-autoscaler predicts nodes without EPC and never scales up for SGX pods`, `tag it ${missing[0]}=<EPC per node, e.g. 64Gi>`);
  }
  if (g.tags[labelTag] !== value) {
    add('error', 'AUTOSCALER_TEMPLATE_NO_LABEL', subject, `node group can scale from zero but lacks tag ${labelTag}=${value}, which the webhook's required node affinity selects`, `tag it ${labelTag}=${value}`);
  }
}

/** Human output: one block per finding, then notes and a summary line. */
export function formatDoctorReport(r: DoctorReport): string {
  const lines: string[] = [];
  lines.push(`SGX nodes: ${r.sgxNodes.length ? r.sgxNodes.join(', ') : '(none)'}`);
  for (const f of r.findings) {
    lines.push(`${f.severity === 'error' ? 'ERROR  ' : 'WARNING'} ${f.code} ${f.subject}`);
    lines.push(`        ${f.message}`);
    lines.push(`        fix: ${f.fix}`);
  }
  for (const n of r.notes) lines.push(`note: ${n}`);
  const errors = r.findings.filter((f) => f.severity === 'error').length;
  lines.push(r.ok ? 'OK: no problems found' : `${errors} error(s), ${r.findings.length - errors} warning(s)`);
  return lines.join('\n') + '\n';
}
