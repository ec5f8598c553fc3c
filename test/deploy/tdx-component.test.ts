/**
 * deploy/components/tdx: an overlay with it renders (real `kubectl kustomize`),
 * passes the Kubernetes schema and the cross-reference checks, and runs a
 * `kube-sgx qgs` command line the CLI accepts, on TDX hosts, at the socket
 * QEMU looks for. deploy/components/tdx-vsock on top: the same QGS also on
 * vsock port 4050, under a Localhost seccomp profile that allows
 * socket(AF_VSOCK), copied onto the node by an init container.
 */
import 'reflect-metadata';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProgram } from '../../src/cli/main.js';
import { renderDir, repoRoot, type K8sObject } from './render.js';
import { cliArgProblems, crossReferenceProblems, schemaProblems } from './validate.js';

const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-tdx-deploy-'));
after(() => rmSync(tmp, { recursive: true, force: true }));
cpSync(join(repoRoot, 'deploy'), join(tmp, 'deploy'), { recursive: true });
const overlay = join(tmp, 'deploy', 'overlays', 'tdx-test');
mkdirSync(overlay);
writeFileSync(
  join(overlay, 'kustomization.yaml'),
  ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources: [../../base]', 'components: [../../components/intel, ../../components/dcap, ../../components/tdx]', ''].join('\n'),
);

const vsockOverlay = join(tmp, 'deploy', 'overlays', 'tdx-vsock-test');
mkdirSync(vsockOverlay);
writeFileSync(
  join(vsockOverlay, 'kustomization.yaml'),
  ['apiVersion: kustomize.config.k8s.io/v1beta1', 'kind: Kustomization', 'resources: [../../base]', 'components: [../../components/intel, ../../components/dcap, ../../components/tdx, ../../components/tdx-vsock]', ''].join('\n'),
);

type Pod = { nodeSelector: Record<string, string>; volumes: { name: string; hostPath?: { path: string } }[]; containers: { args: string[]; resources: { limits: Record<string, string> }; securityContext: Record<string, unknown> }[] };

describe('deploy/components/tdx', () => {
  const objects: K8sObject[] = renderDir(overlay);
  const ds = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'kube-sgx-qgs');

  test('adds the QGS DaemonSet and its ServiceAccount; schema and cross references hold', async () => {
    assert.ok(ds, 'DaemonSet kube-sgx-qgs');
    assert.ok(objects.some((o) => o.kind === 'ServiceAccount' && o.metadata.name === 'kube-sgx-qgs'));
    for (const o of objects.filter((x) => x.metadata.name.startsWith('kube-sgx-qgs'))) assert.deepEqual(await schemaProblems(o), [], `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(
      crossReferenceProblems(objects, { externalSecrets: ['kube-sgx-webhook-tls', 'kube-sgx-attestation-tls', 'kube-sgx-attestation-keys'] }).filter((p) => p.includes('kube-sgx-qgs')),
      [],
    );
  });

  test('runs `kube-sgx qgs --backend=dcap` at the host’s /var/run/tdx-qgs/qgs.socket on TDX hosts, with the TD QE’s SGX devices', async () => {
    const pod = (ds!.spec as { template: { spec: Pod } }).template.spec;
    const c = pod.containers[0];
    assert.deepEqual(cliArgProblems(await buildProgram(), c.args, 'kube-sgx-qgs'), []);
    assert.ok(c.args.includes('--socket=/var/run/tdx-qgs/qgs.socket'));
    assert.ok(c.args.includes('--backend=dcap'));
    assert.equal(pod.nodeSelector['intel.feature.node.kubernetes.io/tdx'], 'true');
    assert.equal(pod.volumes.find((v) => v.name === 'tdx-qgs')?.hostPath?.path, '/var/run/tdx-qgs');
    assert.equal(c.resources.limits['sgx.intel.com/enclave'], '1');
    assert.equal(c.resources.limits['sgx.intel.com/provision'], '1');
    assert.deepEqual([c.securityContext.allowPrivilegeEscalation, c.securityContext.readOnlyRootFilesystem], [false, true]);
  });
});

type SeccompRule = { names: string[]; action: string; args?: { index: number; value: number; valueTwo?: number; op: string }[]; errnoRet?: number };
type SeccompProfile = { defaultAction: string; defaultErrnoRet?: number; architectures: string[]; syscalls: SeccompRule[] };
type VsockPod = Pod & {
  securityContext: { seccompProfile: { type: string } };
  initContainers: { name: string; command: string[]; securityContext: { seccompProfile?: { type: string } }; volumeMounts: { name: string; mountPath: string }[] }[];
  volumes: { name: string; hostPath?: { path: string }; configMap?: { name: string } }[];
  containers: (Pod['containers'][number] & { securityContext: { seccompProfile?: { type: string; localhostProfile?: string } } })[];
};

describe('deploy/components/tdx-vsock', () => {
  const objects: K8sObject[] = renderDir(vsockOverlay);
  const ds = objects.find((o) => o.kind === 'DaemonSet' && o.metadata.name === 'kube-sgx-qgs');
  const pod = (ds!.spec as { template: { spec: VsockPod } }).template.spec;
  const shipped = JSON.parse(readFileSync(join(repoRoot, 'deploy', 'components', 'tdx-vsock', 'qgs-vsock-seccomp.json'), 'utf8')) as SeccompProfile;

  test('renders with tdx; schema and cross references hold; the CLI accepts --vsock=4050', async () => {
    const cm = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name.startsWith('kube-sgx-qgs-seccomp'));
    assert.ok(cm, 'the profile ConfigMap');
    for (const o of [ds!, cm]) assert.deepEqual(await schemaProblems(o), [], `${o.kind}/${o.metadata.name}`);
    assert.deepEqual(
      crossReferenceProblems(objects, { externalSecrets: ['kube-sgx-webhook-tls', 'kube-sgx-attestation-tls', 'kube-sgx-attestation-keys'] }).filter((p) => p.includes('kube-sgx-qgs')),
      [],
    );
    const c = pod.containers[0];
    assert.deepEqual(cliArgProblems(await buildProgram(), c.args, 'kube-sgx-qgs'), []);
    assert.ok(c.args.includes('--vsock=4050'));
    assert.ok(c.args.includes('--socket=/var/run/tdx-qgs/qgs.socket'), 'still serves the unix socket');
    assert.deepEqual(JSON.parse((cm.data as Record<string, string>)['qgs-vsock.json']), shipped, 'the ConfigMap carries the shipped profile');
  });

  test('the QGS container runs under the Localhost profile the init container copies to <kubelet root>/seccomp/kube-sgx/', () => {
    const c = pod.containers[0];
    assert.deepEqual(c.securityContext.seccompProfile, { type: 'Localhost', localhostProfile: 'kube-sgx/qgs-vsock.json' });
    assert.deepEqual(pod.securityContext.seccompProfile, { type: 'RuntimeDefault' }, 'the pod default stays RuntimeDefault');
    const init = pod.initContainers.find((i) => i.name === 'seccomp-profile');
    assert.ok(init);
    assert.deepEqual(init.securityContext.seccompProfile, { type: 'RuntimeDefault' });
    const hostDir = pod.volumes.find((v) => v.name === 'host-seccomp')?.hostPath?.path;
    assert.equal(hostDir, '/var/lib/kubelet/seccomp/kube-sgx');
    const mount = init.volumeMounts.find((m) => m.name === 'host-seccomp')!.mountPath;
    const source = init.volumeMounts.find((m) => m.name === 'seccomp-profile')!.mountPath;
    // cp SOURCE DEST: the ConfigMap's file to the host directory under the name the QGS container's profile names
    assert.deepEqual(init.command, ['cp', `${source}/qgs-vsock.json`, `${mount}/qgs-vsock.json`]);
    assert.equal(`${hostDir}/qgs-vsock.json`, `/var/lib/kubelet/seccomp/${c.securityContext.seccompProfile!.localhostProfile!}`);
  });

  test('the profile: errno by default; socket(2) for AF_UNIX, AF_INET, AF_INET6, AF_NETLINK and AF_VSOCK only; no namespace, mount, tracing or module calls', () => {
    assert.equal(shipped.defaultAction, 'SCMP_ACT_ERRNO');
    assert.deepEqual(shipped.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64']);
    const allowed = new Set(shipped.syscalls.filter((r) => r.action === 'SCMP_ACT_ALLOW' && !r.args).flatMap((r) => r.names));
    for (const name of ['read', 'write', 'mmap', 'futex', 'epoll_wait', 'bind', 'listen', 'accept4', 'connect', 'execve', 'exit_group']) assert.ok(allowed.has(name), name);
    for (const name of ['socket', 'clone', 'clone3', 'mount', 'umount2', 'unshare', 'setns', 'ptrace', 'bpf', 'keyctl', 'add_key', 'init_module', 'finit_module', 'io_uring_setup', 'perf_event_open', 'userfaultfd', 'kexec_load', 'reboot', 'chroot', 'pivot_root']) {
      assert.ok(!allowed.has(name), `${name} is not allowed unconditionally`);
    }
    const socketFamilies = shipped.syscalls.filter((r) => r.names.includes('socket')).map((r) => {
      assert.equal(r.action, 'SCMP_ACT_ALLOW');
      assert.equal(r.args?.length, 1);
      assert.deepEqual([r.args![0].index, r.args![0].op], [0, 'SCMP_CMP_EQ']);
      return r.args![0].value;
    });
    assert.deepEqual(socketFamilies.sort((a, b) => a - b), [1, 2, 10, 16, 40]);
    const clone = shipped.syscalls.find((r) => r.names.includes('clone'))!;
    // CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER | NEWPID | NEWNET must all be clear
    assert.deepEqual(clone.args, [{ index: 0, value: 0x7e020000, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }]);
    assert.deepEqual(shipped.syscalls.find((r) => r.names.includes('clone3')), { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: 38 }, 'clone3: ENOSYS, so glibc falls back to the filtered clone');
  });
});
