/**
 * Checks for rendered manifests, shared by the deploy tests:
 * - `schemaProblems`: the Kubernetes OpenAPI schema (kubernetes-models' validators)
 *   or, for cert-manager kinds, certmanager.ts's schema from cert-manager's CRDs,
 *   plus unknown fields (walking @kubernetes/client-node's typed models, which
 *   list every field each API type has: kubernetes-models alone accepts typos);
 * - `crossReferenceProblems`: names, ports, labels, service accounts, RBAC,
 *   webhook services, HPA and PDB targets, volumes, cert-manager wiring;
 * - `cliArgProblems`: every `kube-sgx` container's arguments against the options
 *   the CLI really registers (commander's own Option objects).
 * Each returns a list of human-readable problems; empty means fine.
 */
import * as k8s from '@kubernetes/client-node';
import type { Command, Option } from 'commander';
import type { K8sObject } from './render.js';
import { certManagerProblems } from './certmanager.js';

type Rec = Record<string, unknown>;
const isRec = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const asRec = (v: unknown): Rec => (isRec(v) ? v : {});
const asArr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const label = (o: K8sObject) => `${o.kind}/${o.metadata.namespace ? o.metadata.namespace + '/' : ''}${o.metadata.name}`;

// ---------------------------------------------------------------- schemas

const modelClasses = k8s as unknown as Record<string, { attributeTypeMap?: { name: string; baseName: string; type: string }[] } | undefined>;

/** The @kubernetes/client-node model name for an object's top-level type. */
function clientModelName(o: K8sObject): string {
  const version = o.apiVersion.split('/').pop() ?? '';
  return version.charAt(0).toUpperCase() + version.slice(1) + o.kind;
}

/** Fields not in the API type (typos, wrong nesting): the API server would drop or reject them. */
function unknownFieldProblems(value: unknown, type: string, path: string, out: string[]): void {
  const arr = /^Array<(.+)>$/.exec(type);
  if (arr) {
    asArr(value).forEach((v, i) => unknownFieldProblems(v, arr[1], `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    for (const [k, v] of Object.entries(asRec(value))) unknownFieldProblems(v, map[1], `${path}.${k}`, out);
    return;
  }
  const model = modelClasses[type]?.attributeTypeMap;
  if (!model || !isRec(value)) return; // leaf types (string, number, IntOrString, any, ...)
  const fields = new Map(model.map((a) => [a.baseName, a.type]));
  for (const [k, v] of Object.entries(value)) {
    const t = fields.get(k);
    if (t === undefined) out.push(`${path}: unknown field "${k}" for ${type}`);
    else unknownFieldProblems(v, t, `${path}.${k}`, out);
  }
}

export async function schemaProblems(o: K8sObject): Promise<string[]> {
  if (o.apiVersion.startsWith('cert-manager.io/')) return certManagerProblems(o);
  let cls: (new (data: unknown) => { validate(): void }) | undefined;
  try {
    const mod = (await import(`kubernetes-models/${o.apiVersion}/${o.kind}`)) as Record<string, unknown>;
    cls = mod[o.kind] as typeof cls;
  } catch {
    return [`${label(o)}: no schema for ${o.apiVersion} ${o.kind}`];
  }
  const out: string[] = [];
  try {
    new cls!(o).validate();
  } catch (e) {
    out.push(`${label(o)}: ${(e as Error).message}`);
  }
  const modelName = clientModelName(o);
  if (!modelClasses[modelName]?.attributeTypeMap) out.push(`${label(o)}: no field model ${modelName}`);
  else unknownFieldProblems(o, modelName, label(o), out);
  return out;
}

// ---------------------------------------------------------------- workloads

export interface PodTemplateOwner {
  obj: K8sObject;
  podLabels: Record<string, string>;
  podSpec: Rec;
}

/** Deployments, DaemonSets, StatefulSets and Jobs with their pod template; bare Pods too. */
export function podOwners(objects: K8sObject[]): PodTemplateOwner[] {
  const out: PodTemplateOwner[] = [];
  for (const o of objects) {
    if (['Deployment', 'DaemonSet', 'StatefulSet', 'Job'].includes(o.kind)) {
      const tpl = asRec(asRec(o.spec).template);
      out.push({ obj: o, podLabels: asRec(asRec(tpl.metadata).labels) as Record<string, string>, podSpec: asRec(tpl.spec) });
    } else if (o.kind === 'Pod') {
      out.push({ obj: o, podLabels: o.metadata.labels ?? {}, podSpec: asRec(o.spec) });
    }
  }
  return out;
}

export function containersOf(podSpec: Rec): Rec[] {
  return [...asArr(podSpec.initContainers), ...asArr(podSpec.containers)].filter(isRec);
}

function selectorMatches(selector: Rec, labels: Record<string, string>): boolean {
  const matchLabels = asRec(selector.matchLabels);
  const exprs = asArr(selector.matchExpressions).filter(isRec);
  if (Object.keys(matchLabels).length === 0 && exprs.length === 0) return false; // empty selects all: never what we mean
  if (!Object.entries(matchLabels).every(([k, v]) => labels[k] === v)) return false;
  return exprs.every((e) => {
    const key = String(e.key);
    const values = asArr(e.values).map(String);
    switch (e.operator) {
      case 'In': return key in labels && values.includes(labels[key]);
      case 'NotIn': return !(key in labels) || !values.includes(labels[key]);
      case 'Exists': return key in labels;
      case 'DoesNotExist': return !(key in labels);
      default: return false;
    }
  });
}

// ---------------------------------------------------------------- cross references

export interface CrossCheckOptions {
  /** Secrets the manifests use but that are created outside them (documented in docs/deploy.md). */
  externalSecrets?: string[];
  /** Paths the webhook really serves. */
  webhookPaths?: string[];
}

export function crossReferenceProblems(objects: K8sObject[], opts: CrossCheckOptions = {}): string[] {
  const p: string[] = [];
  const find = (kind: string, name: string, ns?: string) =>
    objects.find((o) => o.kind === kind && o.metadata.name === name && (ns === undefined || o.metadata.namespace === ns));
  const owners = podOwners(objects);
  const namespaces = new Set(objects.filter((o) => o.kind === 'Namespace').map((o) => o.metadata.name));
  const clusterScoped = new Set(['Namespace', 'ClusterRole', 'ClusterRoleBinding', 'MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration', 'ValidatingAdmissionPolicy', 'ValidatingAdmissionPolicyBinding', 'ClusterIssuer']);

  for (const o of objects) {
    if (clusterScoped.has(o.kind)) {
      if (o.metadata.namespace !== undefined) p.push(`${label(o)}: cluster-scoped object with a namespace`);
    } else if (o.metadata.namespace !== undefined && namespaces.size > 0 && !namespaces.has(o.metadata.namespace)) {
      p.push(`${label(o)}: namespace ${o.metadata.namespace} is not created by these manifests`);
    }
  }

  // Workload selectors select their own template.
  for (const w of owners) {
    if (w.obj.kind === 'Pod' || w.obj.kind === 'Job') continue;
    if (!selectorMatches(asRec(asRec(w.obj.spec).selector), w.podLabels)) p.push(`${label(w.obj)}: spec.selector does not match the pod template labels`);
  }

  // Container-level references: ports of probes, volumes, service accounts.
  const certSecrets = objects.filter((o) => o.kind === 'Certificate').map((o) => String(asRec(o.spec).secretName));
  const secretNames = new Set([...objects.filter((o) => o.kind === 'Secret').map((o) => o.metadata.name), ...certSecrets, ...(opts.externalSecrets ?? [])]);
  const configMaps = new Set(objects.filter((o) => o.kind === 'ConfigMap').map((o) => o.metadata.name));
  for (const w of owners) {
    const ns = w.obj.metadata.namespace;
    const volumes = asArr(w.podSpec.volumes).filter(isRec);
    const volumeNames = new Set(volumes.map((v) => String(v.name)));
    for (const v of volumes) {
      const secret = asRec(v.secret).secretName;
      if (typeof secret === 'string' && !secretNames.has(secret)) p.push(`${label(w.obj)}: volume ${String(v.name)} uses Secret ${secret}, which nothing creates`);
      const cm = asRec(v.configMap).name;
      if (typeof cm === 'string' && !configMaps.has(cm)) p.push(`${label(w.obj)}: volume ${String(v.name)} uses ConfigMap ${cm}, which nothing creates`);
    }
    const usedVolumes = new Set<string>();
    for (const c of containersOf(w.podSpec)) {
      const portNames = new Set(asArr(c.ports).filter(isRec).map((x) => x.name));
      const portNumbers = new Set(asArr(c.ports).filter(isRec).map((x) => x.containerPort));
      for (const probeKey of ['livenessProbe', 'readinessProbe', 'startupProbe']) {
        const get = asRec(asRec(c[probeKey]).httpGet);
        if (get.port === undefined) continue;
        if (typeof get.port === 'string' ? !portNames.has(get.port) : !portNumbers.has(get.port)) {
          p.push(`${label(w.obj)}: container ${String(c.name)} ${probeKey} port ${String(get.port)} is not a container port`);
        }
        if (!['/healthz', '/readyz'].includes(String(get.path))) p.push(`${label(w.obj)}: container ${String(c.name)} ${probeKey} path ${String(get.path)} is not /healthz or /readyz`);
      }
      for (const m of asArr(c.volumeMounts).filter(isRec)) {
        usedVolumes.add(String(m.name));
        if (!volumeNames.has(String(m.name))) p.push(`${label(w.obj)}: container ${String(c.name)} mounts undeclared volume ${String(m.name)}`);
      }
      for (const e of asArr(c.env).filter(isRec)) {
        const ref = asRec(asRec(e.valueFrom).secretKeyRef);
        if (typeof ref.name === 'string' && !secretNames.has(ref.name) && ref.optional !== true) p.push(`${label(w.obj)}: env ${String(e.name)} uses Secret ${ref.name}, which nothing creates`);
      }
    }
    for (const v of volumeNames) if (!usedVolumes.has(v)) p.push(`${label(w.obj)}: volume ${v} is never mounted`);

    const sa = typeof w.podSpec.serviceAccountName === 'string' ? w.podSpec.serviceAccountName : undefined;
    if (sa === undefined) continue;
    const saObj = find('ServiceAccount', sa, ns);
    if (!saObj) {
      p.push(`${label(w.obj)}: serviceAccountName ${sa} does not exist in ${String(ns)}`);
      continue;
    }
    const noToken = w.podSpec.automountServiceAccountToken === false || (saObj as Rec).automountServiceAccountToken === false;
    const bound = objects.some(
      (b) =>
        (b.kind === 'RoleBinding' || b.kind === 'ClusterRoleBinding') &&
        asArr(b.subjects).some((s) => isRec(s) && s.kind === 'ServiceAccount' && s.name === sa && s.namespace === ns),
    );
    if (!noToken && !bound) p.push(`${label(w.obj)}: service account ${sa} has a token but no RoleBinding/ClusterRoleBinding`);
    if (noToken && bound) p.push(`${label(w.obj)}: service account ${sa} is bound to a role but gets no token`);
  }

  // Bindings name roles and service accounts that exist.
  for (const b of objects.filter((o) => o.kind === 'RoleBinding' || o.kind === 'ClusterRoleBinding')) {
    const ref = asRec(b.roleRef);
    const role = ref.kind === 'ClusterRole' ? find('ClusterRole', String(ref.name)) : find('Role', String(ref.name), b.metadata.namespace);
    if (!role) p.push(`${label(b)}: roleRef ${String(ref.kind)}/${String(ref.name)} does not exist`);
    for (const s of asArr(b.subjects).filter(isRec)) {
      if (s.kind === 'ServiceAccount' && !find('ServiceAccount', String(s.name), String(s.namespace))) {
        p.push(`${label(b)}: subject ServiceAccount ${String(s.namespace)}/${String(s.name)} does not exist`);
      }
    }
  }

  // Services select pods and target real container ports.
  for (const svc of objects.filter((o) => o.kind === 'Service')) {
    const selector = asRec(asRec(svc.spec).selector) as Record<string, string>;
    const targets = owners.filter((w) => w.obj.metadata.namespace === svc.metadata.namespace && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => w.podLabels[k] === v));
    if (targets.length === 0) {
      p.push(`${label(svc)}: selector matches no pod template`);
      continue;
    }
    for (const port of asArr(asRec(svc.spec).ports).filter(isRec)) {
      const tp = port.targetPort ?? port.port;
      const ok = targets.every((w) =>
        containersOf(w.podSpec).some((c) => asArr(c.ports).some((cp) => isRec(cp) && (typeof tp === 'string' ? cp.name === tp : cp.containerPort === tp))),
      );
      if (!ok) p.push(`${label(svc)}: targetPort ${String(tp)} is not a container port of every selected pod`);
    }
  }

  // Webhooks call a real Service port and path.
  for (const wc of objects.filter((o) => o.kind === 'MutatingWebhookConfiguration' || o.kind === 'ValidatingWebhookConfiguration')) {
    for (const wh of asArr(wc.webhooks).filter(isRec)) {
      const ref = asRec(asRec(wh.clientConfig).service);
      const svc = find('Service', String(ref.name), String(ref.namespace));
      if (!svc) {
        p.push(`${label(wc)}: webhook ${String(wh.name)} calls Service ${String(ref.namespace)}/${String(ref.name)}, which does not exist`);
        continue;
      }
      const port = ref.port ?? 443;
      if (!asArr(asRec(svc.spec).ports).some((sp) => isRec(sp) && sp.port === port)) p.push(`${label(wc)}: webhook ${String(wh.name)} calls port ${String(port)}, not a port of ${label(svc)}`);
      if (opts.webhookPaths && !opts.webhookPaths.includes(String(ref.path))) p.push(`${label(wc)}: webhook ${String(wh.name)} path ${String(ref.path)} is not served (${opts.webhookPaths.join(', ')})`);
      const inject = wc.metadata.annotations?.['cert-manager.io/inject-ca-from'];
      if (inject !== undefined) {
        const [ns, name] = inject.split('/');
        const cert = find('Certificate', name, ns);
        if (!cert) p.push(`${label(wc)}: inject-ca-from ${inject} names no Certificate`);
        else {
          const dns = asArr(asRec(cert.spec).dnsNames);
          const want = `${String(ref.name)}.${String(ref.namespace)}.svc`;
          if (!dns.includes(want)) p.push(`${label(cert)}: dnsNames lack ${want}, which the API server checks`);
        }
      }
    }
  }

  // cert-manager issuers exist.
  for (const cert of objects.filter((o) => o.kind === 'Certificate')) {
    const ref = asRec(asRec(cert.spec).issuerRef);
    const kind = typeof ref.kind === 'string' ? ref.kind : 'Issuer';
    if (!find(kind, String(ref.name), kind === 'Issuer' ? cert.metadata.namespace : undefined)) p.push(`${label(cert)}: issuer ${kind}/${String(ref.name)} does not exist`);
  }

  // CA issuers sign with a CA that a Certificate with isCA issues.
  for (const iss of objects.filter((o) => o.kind === 'Issuer' || o.kind === 'ClusterIssuer')) {
    const ca = asRec(asRec(iss.spec).ca);
    if (typeof ca.secretName !== 'string') continue;
    const made = objects.some((c) => c.kind === 'Certificate' && asRec(c.spec).secretName === ca.secretName && asRec(c.spec).isCA === true && c.metadata.namespace === iss.metadata.namespace);
    if (!made) p.push(`${label(iss)}: CA Secret ${ca.secretName} is not issued by a CA Certificate`);
  }

  // HPA targets exist and the containers request CPU for Utilization targets.
  for (const hpa of objects.filter((o) => o.kind === 'HorizontalPodAutoscaler')) {
    const ref = asRec(asRec(hpa.spec).scaleTargetRef);
    const target = find(String(ref.kind), String(ref.name), hpa.metadata.namespace);
    if (!target || target.apiVersion !== ref.apiVersion) {
      p.push(`${label(hpa)}: scaleTargetRef ${String(ref.apiVersion)} ${String(ref.kind)}/${String(ref.name)} does not exist`);
      continue;
    }
    if ('replicas' in asRec(target.spec)) p.push(`${label(target)}: sets spec.replicas although ${label(hpa)} owns it`);
    const owner = owners.find((w) => w.obj === target);
    for (const m of asArr(asRec(hpa.spec).metrics).filter(isRec)) {
      const r = asRec(m.resource);
      if (m.type === 'Resource' && asRec(r.target).type === 'Utilization') {
        const all = owner ? asArr(owner.podSpec.containers).filter(isRec) : [];
        if (!all.every((c) => asRec(asRec(c.resources).requests)[String(r.name)] !== undefined)) p.push(`${label(hpa)}: ${String(r.name)} utilisation needs a ${String(r.name)} request in every container`);
      }
    }
  }

  // PDBs select pods of a workload in their namespace.
  for (const pdb of objects.filter((o) => o.kind === 'PodDisruptionBudget')) {
    const sel = asRec(asRec(pdb.spec).selector);
    if (!owners.some((w) => w.obj.metadata.namespace === pdb.metadata.namespace && selectorMatches(sel, w.podLabels))) p.push(`${label(pdb)}: selector matches no pod template`);
  }
  return p;
}

// ---------------------------------------------------------------- CLI flags

function findSubcommand(root: Command, words: string[]): { cmd: Command; rest: string[] } | undefined {
  let cmd = root;
  let i = 0;
  while (i < words.length && !words[i].startsWith('-')) {
    const next = cmd.commands.find((c) => c.name() === words[i] || c.aliases().includes(words[i]));
    if (!next) break;
    cmd = next;
    i++;
  }
  return cmd === root ? undefined : { cmd, rest: words.slice(i) };
}

/**
 * Checks a `kube-sgx` argument vector against the program's registered commands and
 * options: the subcommand exists, every flag is registered on it (or a parent),
 * flags that take a value get one, mandatory options are present.
 */
export function cliArgProblems(program: Command, args: string[], where: string): string[] {
  const found = findSubcommand(program, args);
  if (!found) return [`${where}: "${args[0]}" is not a kube-sgx command`];
  const { cmd, rest } = found;
  const p: string[] = [];
  const opts: Option[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) opts.push(...c.options);
  const seen = new Set<Option>();
  for (let i = 0; i < rest.length; i++) {
    const word = rest[i];
    if (!word.startsWith('--')) {
      p.push(`${where}: unexpected argument ${JSON.stringify(word)} for "${cmd.name()}"`);
      continue;
    }
    const eq = word.indexOf('=');
    const flag = eq >= 0 ? word.slice(0, eq) : word;
    const opt = opts.find((o) => o.long === flag);
    if (!opt) {
      p.push(`${where}: ${flag} is not an option of "kube-sgx ${cmd.name()}" (has: ${cmd.options.map((o) => o.long).join(' ')})`);
      continue;
    }
    seen.add(opt);
    const takesValue = opt.required || opt.optional;
    if (!takesValue && eq >= 0) p.push(`${where}: ${flag} takes no value`);
    if (opt.required && eq < 0) {
      const value = rest[i + 1];
      if (value === undefined || value.startsWith('--')) p.push(`${where}: ${flag} needs a value`);
      else i++;
    }
    if (takesValue && opt.argChoices && eq >= 0 && !opt.argChoices.includes(word.slice(eq + 1))) {
      p.push(`${where}: ${flag} must be one of ${opt.argChoices.join(', ')}`);
    }
  }
  for (const o of cmd.options) {
    if (o.mandatory && !seen.has(o)) p.push(`${where}: mandatory ${o.long} missing`);
  }
  return p;
}
