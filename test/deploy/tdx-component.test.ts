/**
 * deploy/components/tdx: an overlay with it renders (real `kubectl kustomize`),
 * passes the Kubernetes schema and the cross-reference checks, and runs a
 * `kube-sgx qgs` command line the CLI accepts, on TDX hosts, at the socket
 * QEMU looks for.
 */
import 'reflect-metadata';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
