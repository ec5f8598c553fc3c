/**
 * deploy/examples/: the workloads pass the Kubernetes schema and go through the
 * real webhook (mutation applied with fast-json-patch, then validation), the
 * attestation policy parses and decides as its comments say, and the release
 * policy parses with the attestation service's own parser.
 */
import 'reflect-metadata';
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fastJsonPatch from 'fast-json-patch';
import { parse as parseYamlText } from 'yaml';
import type { Operation } from 'fast-json-patch';
import { loadYamlObjects, repoRoot, type K8sObject } from './render.js';
import { schemaProblems, crossReferenceProblems, podOwners, containersOf } from './validate.js';
import { mutatePod, validatePod, parseWebhookConfig } from '../../src/webhook/index.js';
import { parseAttestationPolicy, evaluateAttestationPolicy, parseReleasePolicy, evaluateReleasePolicy } from '../../src/service/index.js';
import type { AttestationPolicyClaim } from '../../src/service/index.js';

const examples = join(repoRoot, 'deploy', 'examples');
const baseWebhookConfig = () => {
  const cm = loadYamlObjects(join(repoRoot, 'deploy', 'base', 'webhook.yaml')).find((o) => o.kind === 'ConfigMap')!;
  return parseWebhookConfig(parseYamlText((cm.data as Record<string, string>)['config.yaml']));
};

/** A pod as the API server would send it to the webhook: the workload's template, namespaced. */
function podFrom(o: K8sObject): Record<string, unknown> {
  const owner = podOwners([o])[0];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { generateName: `${o.metadata.name}-`, namespace: o.metadata.namespace, labels: owner.podLabels, ...(annotationsOf(o) ? { annotations: annotationsOf(o) } : {}) },
    spec: structuredClone(owner.podSpec),
  };
}
function annotationsOf(o: K8sObject): Record<string, string> | undefined {
  return ((o.spec as { template?: { metadata?: { annotations?: Record<string, string> } } }).template?.metadata?.annotations);
}

function admit(o: K8sObject) {
  const config = baseWebhookConfig();
  const pod = podFrom(o);
  const patch = mutatePod(pod, config);
  const mutated = fastJsonPatch.applyPatch(structuredClone(pod), patch as Operation[], true, false).newDocument;
  assert.deepEqual(mutatePod(mutated, config), [], 'a second pass changes nothing');
  return { mutated, validation: validatePod(mutated, config) };
}

describe('example workloads', () => {
  for (const file of ['hello-world-epc.yaml', 'out-of-process-quoting.yaml', 'doctor-rbac.yaml']) {
    test(`${file}: schema and references`, async () => {
      const objects = loadYamlObjects(join(examples, file));
      assert.ok(objects.length > 0);
      assert.deepEqual((await Promise.all(objects.map(schemaProblems))).flat(), []);
      assert.deepEqual(crossReferenceProblems(objects), []);
    });
  }

  test('hello-world Job: the webhook adds the enclave device, toleration and SGX node affinity; validation admits it', () => {
    const job = loadYamlObjects(join(examples, 'hello-world-epc.yaml'))[0];
    const { mutated, validation } = admit(job);
    const c = containersOf((mutated as { spec: Record<string, unknown> }).spec)[0] as { resources: { limits: Record<string, string>; requests?: Record<string, string> } };
    assert.equal(c.resources.limits['sgx.intel.com/enclave'], '1');
    assert.equal(c.resources.limits['sgx.intel.com/epc'], '10Mi');
    const spec = JSON.stringify((mutated as { spec: unknown }).spec);
    assert.match(spec, /sgx.intel.com\/capable/);
    assert.match(spec, /"tolerations"/);
    assert.equal(validation.allowed, true, JSON.stringify(validation));
  });

  test('out-of-process app: SGX_AESM_ADDR="1" exactly once, no aesmd volume (the node agent mounts the socket), no provision device', () => {
    const dep = loadYamlObjects(join(examples, 'out-of-process-quoting.yaml'))[0];
    const { mutated, validation } = admit(dep);
    const c = containersOf((mutated as { spec: Record<string, unknown> }).spec)[0] as {
      env: { name: string; value: string }[];
      volumeMounts?: { mountPath: string }[];
      resources: { limits: Record<string, string> };
    };
    assert.deepEqual(c.env.filter((e) => e.name === 'SGX_AESM_ADDR'), [{ name: 'SGX_AESM_ADDR', value: '1' }]);
    assert.equal(c.volumeMounts, undefined);
    assert.equal((mutated as { spec: { volumes?: unknown } }).spec.volumes, undefined, 'no hostPath volume: Pod Security baseline');
    assert.equal(c.resources.limits['sgx.intel.com/provision'], undefined);
    assert.equal(c.resources.limits['sgx.intel.com/enclave'], '1');
    assert.equal(validation.allowed, true, JSON.stringify(validation));
  });
});

test('doctor RBAC is read-only and reaches only the webhook TLS Secret', () => {
  const objects = loadYamlObjects(join(examples, 'doctor-rbac.yaml'));
  for (const role of objects.filter((o) => o.kind === 'Role' || o.kind === 'ClusterRole')) {
    for (const r of role.rules as { resources: string[]; verbs: string[]; resourceNames?: string[] }[]) {
      assert.ok(r.verbs.every((v) => ['get', 'list'].includes(v)), `${role.metadata.name}: ${r.verbs.join(',')}`);
      if (r.resources.includes('secrets')) assert.deepEqual(r.resourceNames, ['kube-sgx-webhook-tls']);
    }
  }
  // the Secret name is the one the doctor reads by default and the webhook mounts
  const webhook = loadYamlObjects(join(repoRoot, 'deploy', 'base', 'webhook.yaml')).find((o) => o.kind === 'Deployment')!;
  assert.match(JSON.stringify(webhook), /"secretName":"kube-sgx-webhook-tls"/);
  assert.equal(parseWebhookConfig({}).doctor.webhookTlsSecret, 'kube-sgx-webhook-tls');
});

describe('example attestation policy (MAA policy language 1.0)', () => {
  const text = readFileSync(join(examples, 'attestation-policy.txt'), 'utf8');
  const policy = parseAttestationPolicy(text);
  const signer = '83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e';
  const claims = (over: Record<string, string | number | boolean>): AttestationPolicyClaim[] =>
    Object.entries({ 'x-ms-sgx-is-debuggable': false, 'x-ms-sgx-mrsigner': signer, 'x-ms-sgx-product-id': 1, 'x-ms-sgx-svn': 2, 'x-ms-sgx-mrenclave': 'ab'.repeat(32), ...over }).map(([type, value]) => ({
      type,
      value,
      valueType: typeof value === 'boolean' ? 'Boolean' : typeof value === 'number' ? 'Integer' : 'String',
      issuer: 'AttestationService',
    }));

  test('permits the named signer and issues app-build / app-svn', () => {
    const out = evaluateAttestationPolicy(policy, claims({}));
    assert.equal(out.permitted, true, out.reason);
    assert.equal(out.issued['app-build'], 'ab'.repeat(32));
    assert.equal(out.issued['app-svn'], 2);
  });

  test('denies debug enclaves, other signers, other products and SVN 0', () => {
    const variants: Record<string, string | number | boolean>[] = [{ 'x-ms-sgx-is-debuggable': true }, { 'x-ms-sgx-mrsigner': '00'.repeat(32) }, { 'x-ms-sgx-product-id': 2 }, { 'x-ms-sgx-svn': 0 }];
    for (const over of variants) {
      assert.equal(evaluateAttestationPolicy(policy, claims(over)).permitted, false, JSON.stringify(over));
    }
  });
});

describe('example secret release policy', () => {
  const policy = parseReleasePolicy(JSON.parse(readFileSync(join(examples, 'secret-release', 'release-policy.json'), 'utf8')));
  const token = {
    iss: 'https://kube-sgx-attestation.kube-sgx.svc',
    'x-ms-sgx-mrsigner': '83d719e77deaca1470f6baf62a4d774303c899db69020f9c70ee1dfc08c7ce9e',
    'x-ms-sgx-product-id': 1,
    'x-ms-sgx-svn': 1,
    'x-ms-sgx-is-debuggable': false,
    'x-kube-sgx-tcb-status': 'UpToDate',
  };

  test('its authority is the issuer the base Deployment configures', () => {
    const dep = loadYamlObjects(join(repoRoot, 'deploy', 'base', 'attestation-service.yaml')).find((o) => o.kind === 'Deployment')!;
    const args = (dep.spec as { template: { spec: { containers: { args: string[] }[] } } }).template.spec.containers[0].args;
    assert.ok(args.includes(`--issuer=${policy.anyOf[0].authority}`));
  });

  test('releases to the right enclave only', () => {
    assert.equal(evaluateReleasePolicy(policy, token), true);
    assert.equal(evaluateReleasePolicy(policy, { ...token, 'x-ms-sgx-svn': 0 }), false);
    assert.equal(evaluateReleasePolicy(policy, { ...token, 'x-ms-sgx-is-debuggable': true }), false);
    assert.equal(evaluateReleasePolicy(policy, { ...token, 'x-kube-sgx-tcb-status': 'Revoked' }), false);
    assert.equal(evaluateReleasePolicy(policy, { ...token, iss: 'https://someone-else.example' }), false);
  });
});
