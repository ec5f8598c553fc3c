/**
 * deploy/: every kustomization renders (with the real `kubectl kustomize`), every
 * object passes the Kubernetes schema with no unknown fields, and the objects
 * agree with each other and with the CLI they run.
 */
// Other components' modules use @peculiar/x509, which needs the Reflect polyfill first.
import 'reflect-metadata';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { join, relative } from 'node:path';
import { mkdtempSync, writeFileSync, mkdirSync, rmSync, readFileSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parse as parseYaml } from 'yaml';
import { renderDir, findKustomizations, repoRoot, loadYamlObjects, type K8sObject } from './render.js';
import { schemaProblems, crossReferenceProblems, cliArgProblems, podOwners, containersOf } from './validate.js';
import { containerIdentity, filePermissionProblems, imageUserFromDockerfile } from './podsecurity.js';
import { buildProgram } from '../../src/cli/main.js';
import { buildWebhookConfigurations } from '../../src/webhook/manifests.js';
import { parseSgxResourceList } from '../../src/nodeagent/agent.js';
import { parseHostPort } from '../../src/ops/listen.js';
import { parseWebhookConfig } from '../../src/webhook/index.js';
import { parseIntegerQuantity } from '../../src/webhook/quantity.js';

/** The Dockerfile's ENTRYPOINT (`node <script>`) with only Node/V8 flags put between node and the script. */
const ENTRYPOINT = (JSON.parse(/^ENTRYPOINT (.*)$/m.exec(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'))![1]!) as string[]);
function isEntrypointWithNodeFlags(command: unknown): boolean {
  if (!Array.isArray(command) || command.length < 2) return false;
  const [node, ...rest] = command as unknown[];
  const script = rest.at(-1);
  return node === ENTRYPOINT[0] && script === ENTRYPOINT.at(-1) && rest.slice(0, -1).every((f) => typeof f === 'string' && /^--[a-z0-9-]+(=\S+)?$/.test(f));
}


const deployDir = join(repoRoot, 'deploy');
/** Secrets the manifests mount but the operator creates (docs/deploy.md), with the keys the docs' commands give them. */
const externalSecretKeys: Record<string, string[]> = {
  'kube-sgx-webhook-tls': ['tls.crt', 'tls.key', 'ca.crt'],
  'kube-sgx-attestation-tls': ['tls.crt', 'tls.key'],
  'kube-sgx-attestation-keys': ['kek', 'admin-token'],
  'kube-sgx-sim-platform': [],
};
const externalSecrets = Object.keys(externalSecretKeys);
const imageUser = imageUserFromDockerfile(readFileSync(join(repoRoot, 'Dockerfile'), 'utf8'));
/** The base leaves the image to the overlays (an `images:` there would miss containers components add). */
const IMAGE_PLACEHOLDER = 'kube-sgx';

const installable = findKustomizations(deployDir).filter((d) => {
  const k = parseYaml(readFileSync(join(d, 'kustomization.yaml'), 'utf8')) as { kind?: string };
  return k.kind === 'Kustomization';
});


function byKind(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  assert.ok(o, `${kind}/${name} missing`);
  return o;
}

function firstContainer(o: K8sObject): Record<string, unknown> & { args: string[] } {
  const spec = (o.spec as { template: { spec: { containers: (Record<string, unknown> & { args: string[] })[] } } }).template.spec;
  return spec.containers[0];
}

/**
 * The one privileged container shipped: the node agent's init container that
 * reads CPUID through /dev/cpu/<n>/cpuid (the device cgroup admits only
 * privileged containers) and exits. Checked on its own below.
 */
function isEpcProbe(w: { obj: K8sObject; podSpec: Record<string, unknown> }, c: Record<string, unknown>): boolean {
  return w.obj.kind === 'DaemonSet' && w.obj.metadata.name === 'kube-sgx-node-agent' && c.name === 'probe-epc' && ((w.podSpec.initContainers as unknown[] | undefined) ?? []).includes(c);
}

/** Every command registered, as `kube-sgx --help` sees them. */
const program = await buildProgram();

describe('deploy kustomizations', () => {
  test('base, three overlays and the no-cert-manager example are found', () => {
    const rel = installable.map((d) => relative(deployDir, d));
    for (const want of ['base', 'overlays/aks', 'overlays/intel', 'overlays/simulation', 'examples/no-cert-manager']) {
      assert.ok(rel.includes(want), `${want} not found among ${rel.join(', ')}`);
    }
  });

  for (const dir of installable) {
    const name = relative(deployDir, dir);
    describe(name, () => {
      const objects = renderDir(dir);

      test('renders to objects', () => {
        assert.ok(objects.length > 0);
      });

      test('every object passes the Kubernetes schema, no unknown fields', async () => {
        const problems = (await Promise.all(objects.map(schemaProblems))).flat();
        assert.deepEqual(problems, []);
      });

      test('names, ports, labels, service accounts, RBAC, webhooks, HPA and PDB agree', () => {
        assert.deepEqual(crossReferenceProblems(objects, { externalSecrets, webhookPaths: ['/mutate', '/validate'] }), []);
      });

      test('every kube-sgx container runs a command and flags the CLI registers', () => {
        const problems: string[] = [];
        let checked = 0;
        for (const w of podOwners(objects)) {
          const inits = new Set(((w.podSpec.initContainers as unknown[]) ?? []));
          for (const c of containersOf(w.podSpec)) {
            if (!String(c.image).includes('kube-sgx')) continue;
            if (c.command !== undefined && isEntrypointWithNodeFlags(c.command)) {
              // The image's own entrypoint with Node/V8 flags in front: the args still go to kube-sgx.
            } else if (c.command !== undefined) {
              // Only init containers may run another program of the image (e.g. cp), never kube-sgx itself.
              assert.ok(inits.has(c), `${w.obj.metadata.name}/${String(c.name)}: the image's entrypoint is kube-sgx; use args`);
              assert.ok(Array.isArray(c.command) && !/kube-sgx|main\.js/.test(String(c.command[0])), `${w.obj.metadata.name}/${String(c.name)}: command ${JSON.stringify(c.command)}`);
              continue;
            }
            problems.push(...cliArgProblems(program, (c.args as string[]) ?? [], `${w.obj.kind}/${w.obj.metadata.name}`));
            checked++;
          }
        }
        assert.ok(checked > 0, 'no kube-sgx container found');
        assert.deepEqual(problems, []);
      });

      test('flag values parse as the components parse them', () => {
        for (const w of podOwners(objects)) {
          for (const c of containersOf(w.podSpec)) {
            if (!String(c.image).includes('kube-sgx')) continue;
            for (const a of (c.args as string[]) ?? []) {
              const [flag, value] = a.split(/=(.*)/s);
              if (value === undefined) continue;
              if (flag === '--resources') parseSgxResourceList(value);
              if (flag === '--listen' || flag === '--metrics-addr') parseHostPort(value, flag);
              if (flag === '--backend') assert.ok(['sim', 'dcap'].includes(value), a);
              if (flag === '--store') assert.ok(['sqlite', 'kubernetes'].includes(value), a);
              if (flag === '--issuer' || flag === '--pccs') new URL(value);
              if (flag.endsWith('-file') || flag === '--tls-cert' || flag === '--tls-key' || flag === '--config' || flag === '--platform' || flag === '--socket') {
                // files the container reads must sit under one of its mounts
                const mounts = ((c.volumeMounts as { mountPath: string }[]) ?? []).map((m) => m.mountPath);
                assert.ok(mounts.some((m) => value.startsWith(m + '/') || value === m), `${a}: not under a volume mount of ${w.obj.metadata.name}`);
              }
            }
          }
        }
      });

      test('every container of every pod uses one fully qualified image (the base: the placeholder overlays replace)', () => {
        const images = new Set(podOwners(objects).flatMap((w) => containersOf(w.podSpec).map((c) => String(c.image))));
        if (name === 'base') {
          assert.deepEqual([...images], [IMAGE_PLACEHOLDER]);
          return;
        }
        assert.equal(images.size, 1, `images: ${[...images].join(', ')}`);
        const [image] = images;
        // registry host (with a dot), repository, and a tag or a digest: never docker.io/library/<name> by default
        assert.match(image, /^[a-z0-9.-]+\.[a-z]{2,}(:\d+)?\/[a-z0-9._/-]+(:[\w.-]+|@sha256:[0-9a-f]{64})$/, image);
      });

      test('every pod declares its own user, group, root stance and seccomp profile', () => {
        for (const w of podOwners(objects)) {
          const sc = (w.podSpec.securityContext ?? {}) as Record<string, unknown>;
          const where = `${w.obj.kind}/${w.obj.metadata.name}`;
          assert.equal(typeof sc.runAsUser, 'number', `${where}: pod runAsUser`);
          assert.equal(typeof sc.runAsGroup, 'number', `${where}: pod runAsGroup`);
          assert.equal(typeof sc.runAsNonRoot, 'boolean', `${where}: pod runAsNonRoot`);
          assert.deepEqual(sc.seccompProfile, { type: 'RuntimeDefault' }, `${where}: seccomp`);
          for (const c of containersOf(w.podSpec)) {
            if (isEpcProbe(w, c)) continue; // privileged by design: its own test
            const who = containerIdentity(w.podSpec, c, imageUser);
            const csc = (c.securityContext ?? {}) as { runAsNonRoot?: boolean };
            const nonRoot = csc.runAsNonRoot ?? sc.runAsNonRoot;
            // the kubelet refuses to start a runAsNonRoot container whose uid is 0
            if (nonRoot === true) assert.notEqual(who.uid, 0, `${where}/${String(c.name)} runAsNonRoot with uid 0`);
            assert.equal(who.dacOverride, false, `${where}/${String(c.name)}: root with capabilities`);
          }
        }
      });

      test('every container can read each Secret and ConfigMap file it mounts; copying init containers can write', () => {
        const { problems, checked } = filePermissionProblems(objects, podOwners(objects), externalSecretKeys, imageUser);
        assert.ok(checked > 0);
        assert.deepEqual(problems, []);
      });

      test('node components tolerate SGX pool taints; Deployments stay off-node-critical', () => {
        for (const ds of objects.filter((o) => o.kind === 'DaemonSet')) {
          const spec = (ds.spec as { template: { spec: { tolerations?: { key: string }[] } } }).template.spec;
          const keys = (spec.tolerations ?? []).map((t) => t.key);
          assert.ok(keys.includes('sgx.intel.com/epc'), `${ds.metadata.name} tolerates sgx.intel.com/epc`);
        }
      });

      test('containers run without privilege escalation and drop all capabilities', () => {
        for (const w of podOwners(objects)) {
          for (const c of containersOf(w.podSpec)) {
            if (isEpcProbe(w, c)) continue; // privileged by design: its own test
            const sc = (c.securityContext ?? {}) as { privileged?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[]; add?: string[] } };
            assert.notEqual(sc.privileged, true, `${w.obj.metadata.name}/${String(c.name)} privileged`);
            if (!String(c.image).includes('kube-sgx')) continue;
            assert.equal(sc.allowPrivilegeEscalation, false, `${w.obj.metadata.name}/${String(c.name)}`);
            assert.deepEqual(sc.capabilities?.drop, ['ALL'], `${w.obj.metadata.name}/${String(c.name)}`);
            assert.equal(sc.capabilities?.add, undefined);
          }
        }
      });

      test('the only privileged container is the node agent\'s EPC probe: an init container that writes one file the unprivileged agent reads', () => {
        const ds = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'kube-sgx-node-agent');
        if (!ds) return;
        const w = podOwners(objects).find((x) => x.obj === ds)!;
        const inits = (w.podSpec.initContainers ?? []) as Record<string, unknown>[];
        const probe = inits.find((c) => c.name === 'probe-epc');
        assert.ok(probe, 'node agent has the probe-epc init container');
        assert.deepEqual(probe.args, ['node-agent', 'probe-epc', '--host-root=/host', '--out=/run/kube-sgx/epc.json']);
        assert.equal(probe.image, w.podSpec.containers && (w.podSpec.containers as Record<string, unknown>[])[0]!.image, 'same image as the agent');
        assert.deepEqual(probe.securityContext, { privileged: true, readOnlyRootFilesystem: true });
        const volumes = new Map(((w.podSpec.volumes ?? []) as { name: string; emptyDir?: unknown; hostPath?: { path: string } }[]).map((v) => [v.name, v]));
        const mounts = probe.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
        // writable: only the in-memory emptyDir; the host is seen read-only (dev for the cpuid device, sys for sgx_total_bytes)
        assert.deepEqual(mounts.filter((m) => m.readOnly !== true).map((m) => [m.mountPath, volumes.get(m.name)?.emptyDir !== undefined]), [['/run/kube-sgx', true]]);
        assert.deepEqual(mounts.filter((m) => m.readOnly === true).map((m) => [m.mountPath, volumes.get(m.name)?.hostPath?.path]).sort(), [['/host/dev', '/dev'], ['/host/sys', '/sys']]);
        const agent = (w.podSpec.containers as (Record<string, unknown> & { args: string[] })[])[0]!;
        assert.ok(agent.args.includes('--epc-file=/run/kube-sgx/epc.json'), 'the agent reads what the probe wrote');
        assert.deepEqual((agent.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[]).find((m) => m.name === 'epc-probe'), { name: 'epc-probe', mountPath: '/run/kube-sgx', readOnly: true });
        assert.notEqual((agent.securityContext as { privileged?: boolean }).privileged, true, 'the long-running agent stays unprivileged');
        for (const o of podOwners(objects)) {
          for (const c of containersOf(o.podSpec)) {
            if (!isEpcProbe(o, c)) assert.notEqual((c.securityContext as { privileged?: boolean } | undefined)?.privileged, true, `${o.obj.metadata.name}/${String(c.name)} privileged`);
          }
        }
      });
    });
  }
});

describe('overlay specifics', () => {
  test('base: node agent mounts the kubelet device-plugin dir and host /dev, nothing writable but the socket dir', () => {
    const objects = renderDir(join(deployDir, 'base'));
    const ds = byKind(objects, 'DaemonSet', 'kube-sgx-node-agent');
    const c = firstContainer(ds);
    const mounts = c.volumeMounts as { name: string; mountPath: string; readOnly?: boolean }[];
    const writable = mounts.filter((m) => m.readOnly !== true).map((m) => m.mountPath);
    assert.deepEqual(writable, ['/var/lib/kubelet/device-plugins']);
    assert.ok(mounts.some((m) => m.mountPath === '/host/dev' && m.readOnly === true));
    assert.ok(c.args.includes('--host-root=/host'));
    const volumes = (ds.spec as { template: { spec: { volumes: { name: string; hostPath?: { path: string } }[] } } }).template.spec.volumes;
    assert.deepEqual(volumes.filter((v) => v.hostPath).map((v) => v.hostPath?.path).sort(), ['/dev', '/proc/cpuinfo', '/sys', '/var/lib/kubelet/device-plugins', '/var/run/aesmd']);
    const qh = byKind(objects, 'DaemonSet', 'kube-sgx-quote-helper');
    const qv = (qh.spec as { template: { spec: { volumes: { hostPath?: { path: string } }[] } } }).template.spec.volumes;
    assert.deepEqual(qv.filter((v) => v.hostPath).map((v) => v.hostPath?.path), ['/var/run/aesmd']);
    assert.ok(firstContainer(qh).args.includes('--backend=dcap'));
  });

  test('base RBAC: node agent get/patch nodes + nodes/status, webhook reads nodes, attestation Secrets in its namespace only', () => {
    const objects = renderDir(join(deployDir, 'base'));
    const rules = (kind: string, name: string) => (byKind(objects, kind, name).rules as { resources: string[]; verbs: string[] }[]);
    const agent = rules('ClusterRole', 'kube-sgx-node-agent');
    assert.deepEqual(agent.map((r) => r.resources).flat().sort(), ['nodes', 'nodes/status']);
    assert.ok(agent.every((r) => r.verbs.includes('get') && r.verbs.includes('patch') && !r.verbs.includes('delete') && !r.verbs.includes('*')));
    const webhook = rules('ClusterRole', 'kube-sgx-webhook');
    assert.deepEqual(webhook, [{ apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] }]);
    const svc = byKind(objects, 'Role', 'kube-sgx-attestation');
    assert.equal(svc.metadata.namespace, 'kube-sgx-attestation');
    assert.deepEqual((svc.rules as { resources: string[] }[]).map((r) => r.resources).flat(), ['secrets']);
    assert.equal(objects.filter((o) => o.kind === 'ClusterRole' && o.metadata.name.includes('attestation')).length, 0);
    // no wildcard anywhere
    for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
      for (const r of role.rules as { verbs: string[]; resources: string[] }[]) {
        assert.ok(!r.verbs.includes('*') && !r.resources.includes('*'), role.metadata.name);
      }
    }
  });

  test('RBAC: the attestation service reaches Secrets only in its state namespace; no other component\'s Secret', () => {
    for (const overlay of ['aks', 'intel', 'simulation']) {
      const objects = renderDir(join(deployDir, 'overlays', overlay));
      type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
      /** (namespace or '*', rule) for every rule bound to the service account. */
      const grants = (sa: string, ns: string) =>
        objects
          .filter((b) => (b.kind === 'RoleBinding' || b.kind === 'ClusterRoleBinding') && (b.subjects as { kind: string; name: string; namespace: string }[]).some((x) => x.kind === 'ServiceAccount' && x.name === sa && x.namespace === ns))
          .flatMap((b) => {
            const ref = b.roleRef as { kind: string; name: string };
            const role = objects.find((r) => r.kind === ref.kind && r.metadata.name === ref.name && (ref.kind === 'ClusterRole' || r.metadata.namespace === b.metadata.namespace))!;
            return (role.rules as Rule[]).map((rule) => ({ ns: b.kind === 'ClusterRoleBinding' ? '*' : b.metadata.namespace!, rule }));
          });
      const svcGrants = grants('kube-sgx-attestation', 'kube-sgx');
      const secretGrants = svcGrants.filter((g) => g.rule.resources.includes('secrets'));
      assert.deepEqual([...new Set(secretGrants.map((g) => g.ns))], ['kube-sgx-attestation'], overlay);
      // every Secret another component uses lives elsewhere
      const otherSecrets = new Set<string>();
      for (const o of objects) {
        if (o.kind === 'Certificate') otherSecrets.add(`${o.metadata.namespace}/${(o.spec as { secretName: string }).secretName}`);
        if (o.kind === 'Deployment' || o.kind === 'DaemonSet') {
          for (const v of (o.spec as { template: { spec: { volumes?: { secret?: { secretName: string } }[] } } }).template.spec.volumes ?? []) {
            if (v.secret) otherSecrets.add(`${o.metadata.namespace}/${v.secret.secretName}`);
          }
        }
      }
      assert.ok(otherSecrets.has('kube-sgx/kube-sgx-webhook-tls'));
      for (const s of otherSecrets) assert.ok(!secretGrants.some((g) => s.startsWith(`${g.ns}/`)), `${overlay}: the service can read ${s}`);
      // the service writes where its Role is
      const args = firstContainer(byKind(objects, 'Deployment', 'kube-sgx-attestation')).args;
      assert.ok(args.includes('--store=kubernetes') && args.includes('--namespace=kube-sgx-attestation'), overlay);
      assert.ok(objects.some((o) => o.kind === 'Namespace' && o.metadata.name === 'kube-sgx-attestation'));
      // the webhook and the node agent read no Secret through the API at all
      for (const sa of ['kube-sgx-webhook', 'kube-sgx-node-agent']) assert.deepEqual(grants(sa, 'kube-sgx').filter((g) => g.rule.resources.includes('secrets')), [], sa);
    }
  });

  test('RBAC: a ValidatingAdmissionPolicy holds each node agent to its own Node', () => {
    for (const overlay of ['aks', 'intel', 'simulation']) {
      const objects = renderDir(join(deployDir, 'overlays', overlay));
      const policy = byKind(objects, 'ValidatingAdmissionPolicy', 'kube-sgx-node-agent-own-node').spec as {
        failurePolicy: string;
        matchConstraints: { resourceRules: { apiGroups: string[]; operations: string[]; resources: string[] }[] };
        matchConditions: { expression: string }[];
        validations: { expression: string }[];
      };
      const binding = byKind(objects, 'ValidatingAdmissionPolicyBinding', 'kube-sgx-node-agent-own-node').spec as { policyName: string; validationActions: string[] };
      assert.equal(binding.policyName, 'kube-sgx-node-agent-own-node');
      assert.deepEqual(binding.validationActions, ['Deny']);
      assert.equal(policy.failurePolicy, 'Fail');
      // every resource the agent's ClusterRole may change is covered, for the verbs it has
      const agentRole = byKind(objects, 'ClusterRole', 'kube-sgx-node-agent').rules as { resources: string[]; verbs: string[] }[];
      const mutable = agentRole.filter((r) => r.verbs.some((v) => v !== 'get' && v !== 'list' && v !== 'watch')).flatMap((r) => r.resources);
      assert.deepEqual(mutable.sort(), policy.matchConstraints.resourceRules.flatMap((r) => r.resources).sort());
      assert.ok(agentRole.every((r) => r.verbs.every((v) => ['get', 'list', 'watch', 'patch', 'update'].includes(v))), 'UPDATE covers every write the role allows');
      assert.deepEqual(policy.matchConstraints.resourceRules.flatMap((r) => r.operations), ['UPDATE']);
      // it applies to the node agent's service account, as the DaemonSet runs it
      const ds = byKind(objects, 'DaemonSet', 'kube-sgx-node-agent');
      const sa = `system:serviceaccount:${ds.metadata.namespace}:${(ds.spec as { template: { spec: { serviceAccountName: string } } }).template.spec.serviceAccountName}`;
      assert.ok(policy.matchConditions.some((c) => c.expression === `request.userInfo.username == '${sa}'`));
      // and compares the Node's name with the node name bound into the pod's token
      assert.ok(policy.validations.some((v) => /object\.metadata\.name in request\.userInfo\.extra\['authentication\.kubernetes\.io\/node-name'\]/.test(v.expression)));
    }
  });

  test('aks: DC-series placement, every resource name incl. the legacy MiB one, webhook emits both EPC names', () => {
    const objects = renderDir(join(deployDir, 'overlays', 'aks'));
    const ds = byKind(objects, 'DaemonSet', 'kube-sgx-node-agent');
    const terms = JSON.stringify((ds.spec as { template: { spec: { affinity: unknown } } }).template.spec.affinity);
    assert.match(terms, /Standard_DC4s_v3/);
    assert.match(terms, /Standard_DC8_v2/);
    assert.ok(firstContainer(ds).args.some((a) => a.startsWith('--resources=') && a.includes('kubernetes.azure.com/sgx_epc_mem_in_MiB')));
    const cfg = parseYaml((byKind(objects, 'ConfigMap', 'kube-sgx-webhook-config').data as Record<string, string>)['config.yaml']) as { epcResourceNames: string[] };
    assert.deepEqual(cfg.epcResourceNames, ['sgx.intel.com/epc', 'kubernetes.azure.com/sgx_epc_mem_in_MiB']);
  });

  test('aks: both DaemonSets tolerate AKS Spot pools besides the SGX taints', () => {
    const objects = renderDir(join(deployDir, 'overlays', 'aks'));
    for (const name of ['kube-sgx-node-agent', 'kube-sgx-quote-helper']) {
      const tolerations = (byKind(objects, 'DaemonSet', name).spec as { template: { spec: { tolerations: Record<string, string>[] } } }).template.spec.tolerations;
      assert.ok(tolerations.some((t) => t.key === 'kubernetes.azure.com/scalesetpriority' && t.operator === 'Equal' && t.value === 'spot' && t.effect === 'NoSchedule'), name);
      assert.ok(tolerations.some((t) => t.key === 'kubernetes.azure.com/sgx_epc_mem_in_MiB'), name);
    }
  });

  test('intel: only sgx.intel.com names', () => {
    const objects = renderDir(join(deployDir, 'overlays', 'intel'));
    const args = firstContainer(byKind(objects, 'DaemonSet', 'kube-sgx-node-agent')).args;
    const res = args.find((a) => a.startsWith('--resources='));
    assert.equal(res, '--resources=sgx.intel.com/epc,sgx.intel.com/enclave,sgx.intel.com/provision');
    const cfg = parseYaml((byKind(objects, 'ConfigMap', 'kube-sgx-webhook-config').data as Record<string, string>)['config.yaml']) as { epcResourceNames: string[] };
    assert.deepEqual(cfg.epcResourceNames, ['sgx.intel.com/epc']);
  });

  test('simulation: sim quote helper without SGX devices, attestation service in --simulation on the same platform', () => {
    const objects = renderDir(join(deployDir, 'overlays', 'simulation'));
    const qh = byKind(objects, 'DaemonSet', 'kube-sgx-quote-helper');
    const qargs = firstContainer(qh).args;
    assert.ok(qargs.includes('--backend=sim'));
    assert.equal(JSON.stringify(firstContainer(qh).resources).includes('sgx.intel.com'), false);
    const svc = byKind(objects, 'Deployment', 'kube-sgx-attestation');
    const sargs = firstContainer(svc).args;
    assert.ok(sargs.includes('--simulation'));
    assert.ok(!sargs.some((a) => a.startsWith('--pccs')), 'no PCCS in simulation');
    const platform = (args: string[]) => args.find((a) => a.startsWith('--platform='));
    assert.ok(platform(qargs));
    assert.equal(platform(qargs), platform(sargs));
  });

  test('overlays with cert-manager inject the CA from a Certificate whose Secret the webhook mounts', () => {
    for (const o of ['aks', 'intel', 'simulation']) {
      const objects = renderDir(join(deployDir, 'overlays', o));
      const cert = byKind(objects, 'Certificate', 'kube-sgx-webhook');
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
        assert.equal(byKind(objects, kind, 'kube-sgx-webhook').metadata.annotations?.['cert-manager.io/inject-ca-from'], 'kube-sgx/kube-sgx-webhook');
      }
      const dep = byKind(objects, 'Deployment', 'kube-sgx-webhook');
      assert.match(JSON.stringify(dep), new RegExp(`"secretName":"${(cert.spec as { secretName: string }).secretName}"`));
    }
  });
});

describe('resource requests sized from measurement', () => {
  // bench/footprint.ts runs each component as its container does and records RSS and CPU.
  const footprint = JSON.parse(readFileSync(join(repoRoot, 'bench', 'results', 'footprint.json'), 'utf8')) as {
    rows: { container: string; work: string; idle: { rssMiB: number }; loaded: { rssMiB: number; hwmMiB: number } }[];
  };
  const mib = (q: string) => Number(parseIntegerQuantity(q)) / 1024 / 1024;

  test('every long-running container was measured', () => {
    const measured = new Set(footprint.rows.map((r) => r.container));
    for (const want of ['kube-sgx-node-agent/node-agent', 'kube-sgx-quote-helper/quote-helper', 'kube-sgx-webhook/webhook', 'kube-sgx-attestation/attestation-service']) assert.ok(measured.has(want), want);
  });

  for (const overlay of ['aks', 'intel', 'simulation']) {
    test(`${overlay}: memory requests cover the measured peak RSS, limits leave at least half of it again as headroom`, () => {
      const objects = renderDir(join(deployDir, 'overlays', overlay));
      for (const row of footprint.rows) {
        const [workload, container] = row.container.split('/');
        const owner = podOwners(objects).find((w) => w.obj.metadata.name === workload)!;
        const c = containersOf(owner.podSpec).find((x) => x.name === container)! as { resources: { requests: Record<string, string>; limits: Record<string, string> } };
        const request = mib(c.resources.requests.memory);
        const limit = mib(c.resources.limits.memory);
        assert.ok(request >= row.loaded.hwmMiB, `${row.container}: request ${request} Mi < measured peak ${row.loaded.hwmMiB.toFixed(1)} MiB (${row.work})`);
        assert.ok(limit >= 1.5 * row.loaded.hwmMiB, `${row.container}: limit ${limit} Mi < 1.5 × peak ${row.loaded.hwmMiB.toFixed(1)} MiB`);
        assert.ok(c.resources.requests.cpu !== undefined, `${row.container}: a CPU request`);
      }
    });
  }
});

describe('the attestation service speaks HTTPS in every overlay', () => {
  for (const dir of installable.filter((d) => relative(deployDir, d) !== 'base')) {
    test(relative(deployDir, dir), () => {
      const objects = renderDir(dir);
      const dep = byKind(objects, 'Deployment', 'kube-sgx-attestation');
      const c = firstContainer(dep);
      const arg = (flag: string) => c.args.find((a) => a.startsWith(`${flag}=`))?.slice(flag.length + 1);
      const issuer = new URL(arg('--issuer')!);
      assert.equal(issuer.protocol, 'https:');
      const [certFile, keyFile] = [arg('--tls-cert'), arg('--tls-key')];
      assert.ok(certFile && keyFile, 'serves TLS');
      // The pair comes from the Secret the Certificate (or the operator, without cert-manager) fills.
      const mount = (c.volumeMounts as { name: string; mountPath: string }[]).find((m) => certFile.startsWith(m.mountPath + '/'))!;
      const volume = (dep.spec as { template: { spec: { volumes: { name: string; secret?: { secretName: string } }[] } } }).template.spec.volumes.find((v) => v.name === mount.name)!;
      assert.equal(volume.secret?.secretName, 'kube-sgx-attestation-tls');
      const svc = byKind(objects, 'Service', 'kube-sgx-attestation');
      const ports = (svc.spec as { ports: { port: number; targetPort: string }[] }).ports;
      assert.deepEqual(ports.map((p) => [p.port, p.targetPort]), [[443, 'https']]);
      assert.equal(issuer.hostname, `${svc.metadata.name}.${svc.metadata.namespace}.svc`);
      assert.equal(issuer.port, '', 'the issuer is the Service on 443');
      const probes = ['livenessProbe', 'readinessProbe'].map((k) => (c[k] as { httpGet: { scheme?: string } }).httpGet.scheme);
      assert.deepEqual(probes, ['HTTPS', 'HTTPS']);
      const cert = objects.find((o) => o.kind === 'Certificate' && (o.spec as { secretName: string }).secretName === 'kube-sgx-attestation-tls');
      if (relative(deployDir, dir).startsWith('overlays/')) {
        assert.ok(cert, 'cert-manager issues it');
        assert.ok((cert.spec as { dnsNames: string[] }).dnsNames.includes(issuer.hostname));
      }
    });
  }

  test('cert-manager: one CA issues both serving certificates; the CA comes from a self-signed CA Certificate', () => {
    const objects = renderDir(join(deployDir, 'overlays', 'intel'));
    const issuerOf = (name: string) => (byKind(objects, 'Certificate', name).spec as { issuerRef: { name: string } }).issuerRef.name;
    assert.equal(issuerOf('kube-sgx-webhook'), 'kube-sgx-ca');
    assert.equal(issuerOf('kube-sgx-attestation'), 'kube-sgx-ca');
    const caIssuer = byKind(objects, 'Issuer', 'kube-sgx-ca').spec as { ca: { secretName: string } };
    const caCert = objects.find((o) => o.kind === 'Certificate' && (o.spec as { secretName: string }).secretName === caIssuer.ca.secretName)!;
    assert.equal((caCert.spec as { isCA: boolean }).isCA, true);
    assert.equal((byKind(objects, 'Issuer', (caCert.spec as { issuerRef: { name: string } }).issuerRef.name).spec as Record<string, unknown>).selfSigned !== undefined, true);
  });
});

describe('without cert-manager: a second kubectl apply -k keeps the caBundle', () => {
  test('the kustomization holds no webhook configuration; `kube-sgx webhook manifests` alone owns them', async () => {
    const dir = join(deployDir, 'examples', 'no-cert-manager');
    const objects = renderDir(dir);
    const id = (o: { apiVersion: string; kind: string; metadata: { name: string; namespace?: string } }) => `${o.apiVersion}/${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const cm = byKind(objects, 'ConfigMap', 'kube-sgx-webhook-config');
    const config = parseWebhookConfig(parseYaml((cm.data as Record<string, string>)['config.yaml']));
    const pem = readFileSync(join(repoRoot, 'test/vectors/dcap/intel-qvl-sampledata/sampleData/trustedRootCaCert.pem'), 'utf8');
    const generated = buildWebhookConfigurations({ caBundlePem: pem, config });
    const cli = [generated.mutating, generated.validating] as unknown as K8sObject[];
    // kubectl apply (client-side or server-side) only changes the objects it is given:
    // with no object in common, re-applying -k cannot remove a field the CLI's apply set.
    const shared = cli.map(id).filter((x) => objects.map(id).includes(x));
    assert.deepEqual(shared, []);
    // and everything else the webhook needs is there: Service, Deployment, the TLS Secret it mounts
    byKind(objects, 'Service', 'kube-sgx-webhook');
    assert.match(JSON.stringify(byKind(objects, 'Deployment', 'kube-sgx-webhook')), /"secretName":"kube-sgx-webhook-tls"/);
    // the CLI's configurations call that Service
    for (const o of cli) assert.deepEqual(crossReferenceProblems([...objects, o], { externalSecrets, webhookPaths: ['/mutate', '/validate'] }), []);
  });

  test('the overlays with cert-manager keep theirs (caBundle injected, never in the applied manifest)', () => {
    for (const o of ['aks', 'intel', 'simulation']) {
      const objects = renderDir(join(deployDir, 'overlays', o));
      for (const kind of ['MutatingWebhookConfiguration', 'ValidatingWebhookConfiguration']) {
        const wc = byKind(objects, kind, 'kube-sgx-webhook') as unknown as { webhooks: { clientConfig: Record<string, unknown> }[] };
        assert.ok(wc.webhooks.every((w) => !('caBundle' in w.clientConfig)), `${o} ${kind}`);
      }
    }
  });
});

describe('webhook configurations', () => {
  test('equal what `kube-sgx webhook manifests` generates from code (apart from caBundle and labels)', () => {
    for (const dir of installable.filter((d) => !d.endsWith('no-cert-manager'))) {
      const objects = renderDir(dir);
      const cm = byKind(objects, 'ConfigMap', 'kube-sgx-webhook-config');
      const config = parseWebhookConfig(parseYaml((cm.data as Record<string, string>)['config.yaml']));
      const pem = readFileSync(join(repoRoot, 'test/vectors/dcap/intel-qvl-sampledata/sampleData/trustedRootCaCert.pem'), 'utf8');
      const generated = buildWebhookConfigurations({ caBundlePem: pem, config });
      for (const [kind, gen] of [['MutatingWebhookConfiguration', generated.mutating], ['ValidatingWebhookConfiguration', generated.validating]] as const) {
        const ours = structuredClone(byKind(objects, kind, 'kube-sgx-webhook')) as Record<string, unknown>;
        const theirs = structuredClone(gen) as { metadata: { name: string }; webhooks: { clientConfig: { caBundle?: string } }[] };
        for (const w of theirs.webhooks) delete w.clientConfig.caBundle;
        assert.deepEqual({ name: (ours.metadata as { name: string }).name, webhooks: ours.webhooks }, { name: theirs.metadata.name, webhooks: theirs.webhooks }, `${relative(deployDir, dir)} ${kind}`);
      }
    }
  });
});

describe('documented commands', () => {
  /** `kube-sgx …` lines of fenced code blocks (docs) and of kustomization comments (examples). */
  function documentedCommands(file: string): string[][] {
    const out: string[][] = [];
    let inFence = file.endsWith('.yaml');
    for (const raw of readFileSync(file, 'utf8').split('\n')) {
      if (raw.trim().startsWith('```')) {
        inFence = !inFence;
        continue;
      }
      const line = raw.replace(/^\s*#\s*/, '').trim();
      if (!inFence || !line.startsWith('kube-sgx ')) continue;
      const cmd = line.split(/\s(?:#|\||&&|>)/)[0];
      out.push(cmd.trim().split(/\s+/).slice(1));
    }
    return out;
  }

  test('every kube-sgx command in docs/deploy.md and deploy/examples uses registered commands and flags', (t) => {
    const files = [join(repoRoot, 'docs/deploy.md'), join(deployDir, 'examples/README.md'), join(deployDir, 'examples/no-cert-manager/kustomization.yaml')];
    const problems: string[] = [];
    const pending: string[] = [];
    let checked = 0;
    for (const f of files) {
      for (const args of documentedCommands(f)) {
        // `sim` lands with the simulator; checked once registered
        if (args[0] === 'sim' && !program.commands.some((c) => c.name() === 'sim' && c.commands.length > 0)) {
          pending.push(args.join(' '));
          continue;
        }
        problems.push(...cliArgProblems(program, args, `${relative(repoRoot, f)}: kube-sgx ${args.join(' ')}`));
        checked++;
      }
    }
    assert.ok(checked >= 3, `found ${checked} commands`);
    assert.deepEqual(problems, []);
    if (pending.length > 0) t.skip(`not registered yet: ${pending.join('; ')}`);
  });
});

describe('rendering', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-kustomize-'));
  test.after(() => rmSync(tmp, { recursive: true, force: true }));
  const write = (dir: string, files: Record<string, string>) => {
    mkdirSync(join(tmp, dir), { recursive: true });
    for (const [f, text] of Object.entries(files)) writeFileSync(join(tmp, dir, f), text);
    return join(tmp, dir);
  };

  test('is kubectl kustomize: its errors come through, naming the kustomization', () => {
    const dir = write('broken', {
      'kustomization.yaml': 'apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources: [missing.yaml]\n',
    });
    assert.throws(() => renderDir(dir), (e: Error) => e.message.startsWith(`kubectl kustomize ${dir}:`) && /missing\.yaml/.test(e.message));
  });

  test('parseYamlObjects rejects YAML syntax errors and objects without a name', () => {
    const dir = write('bad', { 'a.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: { name: [ }\n', 'b.yaml': 'apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n' });
    assert.throws(() => loadYamlObjects(join(dir, 'a.yaml')));
    assert.throws(() => loadYamlObjects(join(dir, 'b.yaml')), /without metadata.name/);
  });

  test('an operator adds a toleration in one file and both DaemonSets of the overlay get it', () => {
    // A copy of deploy/, edited as the comment in tolerations.yaml says.
    const copy = join(tmp, 'deploy-copy');
    cpSync(deployDir, copy, { recursive: true });
    for (const overlay of ['aks', 'intel', 'simulation']) {
      const file = join(copy, 'overlays', overlay, 'tolerations.yaml');
      writeFileSync(file, readFileSync(file, 'utf8') + '- op: add\n  path: /spec/template/spec/tolerations/-\n  value: { key: example.com/pool, operator: Exists, effect: NoExecute }\n');
      const daemonSets = renderDir(join(copy, 'overlays', overlay)).filter((o) => o.kind === 'DaemonSet');
      assert.ok(daemonSets.length >= 2);
      for (const ds of daemonSets) {
        const tolerations = (ds.spec as { template: { spec: { tolerations: { key: string }[] } } }).template.spec.tolerations;
        assert.ok(tolerations.some((t) => t.key === 'example.com/pool'), `${overlay}: ${ds.metadata.name}`);
        assert.ok(tolerations.some((t) => t.key === 'sgx.intel.com/epc'), `${overlay}: ${ds.metadata.name} keeps the SGX tolerations`);
      }
    }
  });
});

describe('validators catch what they claim to', () => {
  // Each check is shown to fail on a broken variant of the real base.
  const base = () => structuredClone(renderDir(join(deployDir, 'base')));
  const mutate = (objects: K8sObject[], kind: string, name: string, fn: (o: Record<string, any>) => void) => { // eslint-disable-line @typescript-eslint/no-explicit-any
    fn(byKind(objects, kind, name));
    return objects;
  };

  test('schema: wrong type and unknown field', async () => {
    const objs = mutate(base(), 'DaemonSet', 'kube-sgx-node-agent', (o) => {
      o.spec.template.spec.containers[0].ports[0].containerPort = 'x';
      o.spec.template.spec.serviceAcountName = 'typo';
    });
    const p = (await Promise.all(objs.map(schemaProblems))).flat().join('\n');
    assert.match(p, /containerPort must be integer/);
    assert.match(p, /unknown field "serviceAcountName"/);
  });

  test('cross references: service selector, targetPort, service account, webhook port, HPA target, PDB selector', () => {
    const objs = base();
    mutate(objs, 'Service', 'kube-sgx-attestation', (o) => (o.spec.ports[0].targetPort = 'nope'));
    mutate(objs, 'Service', 'kube-sgx-webhook', (o) => (o.spec.selector = { 'app.kubernetes.io/name': 'ghost' }));
    mutate(objs, 'DaemonSet', 'kube-sgx-node-agent', (o) => (o.spec.template.spec.serviceAccountName = 'ghost'));
    mutate(objs, 'ValidatingWebhookConfiguration', 'kube-sgx-webhook', (o) => (o.webhooks[0].clientConfig.service.port = 8443));
    mutate(objs, 'HorizontalPodAutoscaler', 'kube-sgx-attestation', (o) => (o.spec.scaleTargetRef.name = 'ghost'));
    mutate(objs, 'PodDisruptionBudget', 'kube-sgx-webhook', (o) => (o.spec.selector.matchLabels = { a: 'b' }));
    mutate(objs, 'MutatingWebhookConfiguration', 'kube-sgx-webhook', (o) => (o.webhooks[0].clientConfig.service.path = '/mutate-v1-pod'));
    const p = crossReferenceProblems(objs, { externalSecrets, webhookPaths: ['/mutate', '/validate'] }).join('\n');
    for (const want of [/targetPort nope/, /Service\/kube-sgx\/kube-sgx-webhook: selector matches no pod/, /serviceAccountName ghost/, /calls port 8443/, /scaleTargetRef .*ghost/, /PodDisruptionBudget\/kube-sgx\/kube-sgx-webhook: selector/, /path \/mutate-v1-pod is not served/]) {
      assert.match(p, want);
    }
  });

  test('file permissions: a non-root init container without the pod fsGroup cannot read 0440 Secret files', () => {
    const objs = renderDir(join(deployDir, 'overlays', 'simulation'));
    const owners = () => podOwners(objs);
    assert.deepEqual(filePermissionProblems(objs, owners(), externalSecretKeys, imageUser).problems, []);
    mutate(objs, 'DaemonSet', 'kube-sgx-quote-helper', (o) => delete o.spec.template.spec.securityContext.fsGroup);
    mutate(objs, 'Deployment', 'kube-sgx-webhook', (o) => (o.spec.template.spec.initContainers = [{ name: 'copy', image: 'x', command: ['cp', '-R', '/a', '/etc/kube-sgx/config'], volumeMounts: [{ name: 'config', mountPath: '/etc/kube-sgx/config' }] }]));
    const p = filePermissionProblems(objs, owners(), externalSecretKeys, imageUser).problems.join('\n');
    assert.match(p, /kube-sgx-quote-helper\/sim-platform \(uid 10001, gid 10001, groups -\) cannot read \/etc\/kube-sgx\/sim-platform\/platform.json: 0:0 440/);
    assert.match(p, /kube-sgx-webhook\/copy .*: \/etc\/kube-sgx\/config is not a writable emptyDir/);
  });

  test('cert-manager schema: unknown field, bad enum, short duration, renewBefore >= duration, two issuer types, missing CA secret', async () => {
    const objs = renderDir(join(deployDir, 'overlays', 'intel'));
    assert.deepEqual((await Promise.all(objs.map(schemaProblems))).flat(), []);
    mutate(objs, 'Certificate', 'kube-sgx-webhook', (o) => {
      o.spec.dnsName = o.spec.dnsNames;
      o.spec.usages = ['server auth', 'serverAuth'];
      o.spec.duration = '30m';
      o.spec.privateKey.size = 128;
    });
    mutate(objs, 'Certificate', 'kube-sgx-attestation', (o) => {
      o.spec.renewBefore = o.spec.duration;
      delete o.spec.issuerRef;
    });
    mutate(objs, 'Issuer', 'kube-sgx-selfsigned', (o) => (o.spec.ca = { secretName: 'x' }));
    mutate(objs, 'Issuer', 'kube-sgx-ca', (o) => (o.spec.ca.secretName = 'nothing-makes-this'));
    const p = (await Promise.all(objs.map(schemaProblems))).flat().join('\n');
    for (const want of [/spec\.dnsName: unknown field/, /"serverAuth" is not one of/, /duration: less than 1h/, /ECDSA keys are 256, 384 or 521/, /renewBefore: not shorter than the duration/, /spec\.issuerRef: required/, /exactly one of acme, ca, selfSigned, vault, venafi \(got ca, selfSigned\)/]) {
      assert.match(p, want);
    }
    assert.match(crossReferenceProblems(objs, { externalSecrets }).join('\n'), /Issuer\/kube-sgx\/kube-sgx-ca: CA Secret nothing-makes-this is not issued by a CA Certificate/);
  });

  test('CLI flags: unknown command, unknown flag, missing value', () => {
    assert.match(cliArgProblems(program, ['no-such-command'], 'x').join(), /not a kube-sgx command/);
    const withCommand = program.commands.find((c) => c.options.length > 0);
    if (!withCommand) return; // no component CLI registered yet
    assert.match(cliArgProblems(program, [withCommand.name(), '--definitely-not-a-flag'], 'x').join(), /not an option/);
  });
});
