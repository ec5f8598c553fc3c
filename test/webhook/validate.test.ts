import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  defaultWebhookConfig as cfg,
  formatBinarySI,
  loadWebhookConfigFile,
  parseIntegerQuantity,
  parseKubernetesQuantity as parseQuantity,
  parseWebhookConfig,
  reviewAdmission,
  validatePod,
} from '../../src/webhook/index.js';
import { KubeSgxError } from '../../src/errors.js';
import { container, mutateAndApply, pod, review, type Obj } from './helpers.js';

const EPC = 'sgx.intel.com/epc';
const LEGACY = 'kubernetes.azure.com/sgx_epc_mem_in_MiB';
const ENCLAVE = 'sgx.intel.com/enclave';
const PROVISION = 'sgx.intel.com/provision';

describe('quantities', () => {
  test('binary, decimal, exponent and fractional forms', () => {
    const cases: Array<[string, bigint]> = [
      ['10Mi', 10n << 20n],
      ['10M', 10_000_000n],
      ['1Gi', 1n << 30n],
      ['1e6', 1_000_000n],
      ['1E3', 1000n],
      ['1000m', 1n],
      ['0.5Ki', 512n],
      ['.5Ki', 512n],
      ['1.', 1n],
      ['+7', 7n],
      ['2Ei', 2n << 60n],
    ];
    for (const [text, want] of cases) assert.equal(parseIntegerQuantity(text), want, text);
  });
  test('non-integers, negatives, garbage and overflow are typed errors', () => {
    const bad: Array<[string, string]> = [
      ['100m', 'QUANTITY_NOT_INTEGER'],
      ['0.5', 'QUANTITY_NOT_INTEGER'],
      ['-1Mi', 'QUANTITY_NEGATIVE'],
      ['10MB', 'QUANTITY_MALFORMED'],
      ['10 Mi', 'QUANTITY_MALFORMED'],
      ['', 'QUANTITY_MALFORMED'],
      ['.', 'QUANTITY_MALFORMED'],
      ['Mi', 'QUANTITY_MALFORMED'],
      ['1e99', 'QUANTITY_MALFORMED'],
      ['12e-1k', 'QUANTITY_MALFORMED'],
      ['16Ei', 'QUANTITY_TOO_LARGE'],
      ['1'.repeat(70), 'QUANTITY_MALFORMED'],
    ];
    for (const [text, code] of bad) {
      assert.throws(() => parseIntegerQuantity(text, ['x']), (e: unknown) => e instanceof KubeSgxError && e.code === code && e.path[0] === 'x', text);
    }
  });
  test('exact rational value and canonical formatting', () => {
    const q = parseQuantity('1.25Mi');
    assert.equal(q.num / q.den, 1310720n);
    assert.equal(formatBinarySI(10n << 20n), '10Mi');
    assert.equal(formatBinarySI(1536n), '1536');
    assert.equal(formatBinarySI(3n << 30n), '3Gi');
    assert.equal(formatBinarySI(0n), '0');
  });
});

describe('config', () => {
  test('defaults', () => {
    assert.deepEqual(cfg.epcResourceNames, [EPC]);
    assert.deepEqual(cfg.nodeLabel, { key: 'sgx.intel.com/capable', value: 'true' });
    assert.equal(cfg.maxEpcPerNode, undefined);
  });
  test('errors name the field', () => {
    const bad: Array<[unknown, RegExp]> = [
      [{ epcResourceNames: ['sgx.intel.com/epcs'] }, /epcResourceNames\.0/],
      [{ taints: [{ key: 'a', effect: 'Sometimes' }] }, /taints\.0\.effect/],
      [{ maxEpcPerNode: '64GB' }, /maxEpcPerNode/],
      [{ nodeLabel: { key: 'bad key!', value: 'x' } }, /nodeLabel\.key/],
      [{ surprise: 1 }, /surprise|unrecognized/i],
    ];
    for (const [input, re] of bad) {
      assert.throws(() => parseWebhookConfig(input), (e: unknown) => e instanceof KubeSgxError && e.code === 'WEBHOOK_CONFIG_INVALID' && re.test(e.message), JSON.stringify(input));
    }
  });
  test('YAML and JSON files', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-cfg-'));
    try {
      await writeFile(join(dir, 'c.yaml'), 'maxEpcPerNode: 64Gi\nepcResourceNames: [sgx.intel.com/epc, kubernetes.azure.com/sgx_epc_mem_in_MiB]\n');
      const c = await loadWebhookConfigFile(join(dir, 'c.yaml'));
      assert.equal(c.maxEpcPerNode, '64Gi');
      assert.equal(c.epcResourceNames.length, 2);
      await writeFile(join(dir, 'c.json'), '{"skipNamespaces": ["a", "b"]}');
      assert.deepEqual((await loadWebhookConfigFile(join(dir, 'c.json'))).skipNamespaces, ['a', 'b']);
      await writeFile(join(dir, 'bad.yaml'), 'taints: [{key: x, effect: Never}]');
      await assert.rejects(loadWebhookConfigFile(join(dir, 'bad.yaml')), /taints\.0\.effect/);
      await assert.rejects(loadWebhookConfigFile(join(dir, 'missing.yaml')), (e: unknown) => e instanceof KubeSgxError && e.code === 'WEBHOOK_CONFIG_UNREADABLE');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('validatePod', () => {
  const mutated = (p: Obj, c = cfg) => mutateAndApply(p, c).out;
  test('a mutated pod is allowed; a plain pod is allowed', () => {
    assert.equal(validatePod(mutated(pod([container('app', { [EPC]: '10Mi' })])), cfg).allowed, true);
    assert.equal(validatePod(pod([container('web', { cpu: '1' })]), cfg).allowed, true);
  });
  test('EPC larger than any node (fixed config and node-read context)', () => {
    const c = parseWebhookConfig({ maxEpcPerNode: '64Mi' });
    const p = mutated(pod([container('a', { [EPC]: '40Mi' }), container('b', { [EPC]: '40Mi' })]), c);
    const v = validatePod(p, c);
    assert.equal(v.allowed, false);
    assert.match(v.message, /needs 80Mi of EPC on one node \(a 40Mi, b 40Mi\) but the largest SGX node offers 64Mi; lower/);
    assert.equal(validatePod(p, cfg, { maxEpcPerNodeBytes: 128n << 20n }).allowed, true);
    assert.equal(validatePod(p, cfg, { maxEpcPerNodeBytes: 32n << 20n }).allowed, false);
  });
  test('fromNodes with unknown capacity allows with a warning', () => {
    const c = parseWebhookConfig({ maxEpcPerNode: 'fromNodes' });
    const v = validatePod(mutated(pod([container('a', { [EPC]: '40Mi' })])), c);
    assert.equal(v.allowed, true);
    assert.equal(v.warnings.length, 1);
  });
  test('limit different from request', () => {
    const v = validatePod(pod([container('app', { [EPC]: '20Mi', [ENCLAVE]: '1' }, { [EPC]: '10Mi', [ENCLAVE]: '1' })]), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /container "app": sgx.intel.com\/epc request 10Mi differs from its limit 20Mi; set both to the same value/);
  });
  test('malformed quantities name container and field', () => {
    const v = validatePod(pod([container('app', { [EPC]: '1.1Ki' })], { init: [container('setup', { [ENCLAVE]: 'one' })] }), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /container "app": resources.limits\["sgx.intel.com\/epc"\]: "1.1Ki" is not a whole number of bytes/);
    assert.match(v.message, /init container "setup": resources.limits\["sgx.intel.com\/enclave"\]: "one" is not a Kubernetes quantity/);
    assert.deepEqual(v.problems[0]!.path, ['spec', 'initContainers', 0, 'resources', 'limits', ENCLAVE]);
  });
  test('provision without enclave', () => {
    const v = validatePod(pod([container('app', { [PROVISION]: '1' }, { [PROVISION]: '1' })]), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /requests sgx.intel.com\/provision without sgx.intel.com\/enclave/);
  });
  test('unknown quote-provider, and one naming a container without EPC', () => {
    const a = validatePod(mutated(pod([container('app', { [EPC]: '4Mi' })], { annotations: { 'kube-sgx.io/quote-provider': 'pccs' } })), cfg);
    assert.equal(a.allowed, false);
    assert.match(a.message, /is neither "aesmd" .* nor a container of this pod .*containers: "app"/);
    const b = validatePod(mutated(pod([container('app', { [EPC]: '4Mi' }), container('web')], { annotations: { 'kube-sgx.io/quote-provider': 'web' } })), cfg);
    assert.equal(b.allowed, false);
    assert.match(b.message, /names container "web", which requests no EPC/);
  });
  test('bypassed mutation: EPC without the enclave device is denied', () => {
    const v = validatePod(pod([container('app', { [EPC]: '4Mi' }, { [EPC]: '4Mi' })]), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /requests EPC but no sgx.intel.com\/enclave device/);
    const off = parseWebhookConfig({ requireEnclaveDevice: false });
    assert.equal(validatePod(pod([container('app', { [EPC]: '4Mi' }, { [EPC]: '4Mi' })]), off).allowed, true);
  });
  test('an EPC name the nodes do not advertise (mutation bypassed) is denied', () => {
    const v = validatePod(pod([container('app', { [LEGACY]: '4', [ENCLAVE]: '1' }, { [LEGACY]: '4', [ENCLAVE]: '1' })]), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /do not advertise/);
  });
  test('typo resource names under sgx.intel.com are denied with the right name', () => {
    const v = validatePod(pod([container('app', { 'sgx.intel.com/sgx_epc_mem_in_MiB': '10' })]), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /not a resource any SGX plugin advertises; use "sgx.intel.com\/epc"/);
  });
});

describe('reviewAdmission', () => {
  test('mutate: base64 JSONPatch with the request uid; no patch when nothing to do', () => {
    const r = reviewAdmission(JSON.stringify(review(pod([container('app', { [EPC]: '4Mi' })]))), cfg, 'mutate');
    assert.equal(r.apiVersion, 'admission.k8s.io/v1');
    assert.equal(r.kind, 'AdmissionReview');
    assert.equal(r.response.uid, '705ab4f5-6393-11e8-b7cc-42010a800002');
    assert.equal(r.response.allowed, true);
    assert.equal(r.response.patchType, 'JSONPatch');
    const ops = JSON.parse(Buffer.from(r.response.patch!, 'base64').toString()) as unknown[];
    assert.ok(ops.length > 0);
    const plain = reviewAdmission(review(pod([container('web')])), cfg, 'mutate');
    assert.deepEqual(plain.response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
  });
  test('validate: denial carries a status message; validating responses never patch', () => {
    const r = reviewAdmission(review(pod([container('app', { [EPC]: '4Mi' })])), cfg, 'validate');
    assert.equal(r.response.allowed, false);
    assert.equal(r.response.patch, undefined);
    assert.equal(r.response.status?.code, 422);
    assert.match(r.response.status!.message, /^kube-sgx: container "app" requests EPC/);
  });
  test('mutate warns when it renames an EPC name the nodes do not advertise', () => {
    const r = reviewAdmission(review(pod([container('app', { [LEGACY]: '4' })])), cfg, 'mutate');
    assert.deepEqual(r.response.warnings, [
      `kube-sgx: container "app": ${LEGACY} rewritten as ${EPC} (what this cluster's SGX nodes advertise)`,
    ]);
    assert.equal(reviewAdmission(review(pod([container('app', { [EPC]: '4Mi' })])), cfg, 'mutate').response.warnings, undefined);
  });
  test('mutate denies a pod whose EPC cannot be read', () => {
    const r = reviewAdmission(review(pod([container('app', { [EPC]: '4MB' })])), cfg, 'mutate');
    assert.equal(r.response.allowed, false);
    assert.match(r.response.status!.message, /4MB/);
  });
  test('skipped namespaces, own namespace, and non-CREATE operations pass untouched', () => {
    const p = pod([container('app', { [EPC]: '4Mi' })]);
    for (const extra of [{ namespace: 'kube-system' }, { namespace: 'kube-sgx' }, { operation: 'UPDATE' }, { operation: 'DELETE', object: null }]) {
      assert.deepEqual(reviewAdmission(review(p, extra), cfg, 'mutate').response, { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true });
    }
  });
  test('bad reviews are WEBHOOK_BAD_REVIEW with a reason', () => {
    const bad: Array<[unknown, RegExp]> = [
      ['{not json', /not JSON/],
      ['[]', /not an AdmissionReview/],
      [{ ...review(pod([])), apiVersion: 'admission.k8s.io/v1beta1' }, /apiVersion must be admission.k8s.io\/v1/],
      [{ ...review(pod([])), kind: 'Pod' }, /kind must be AdmissionReview/],
      [{ apiVersion: 'admission.k8s.io/v1', kind: 'AdmissionReview' }, /request is missing/],
      [review(pod([]), { uid: '' }), /uid/],
      [review(pod([]), { kind: { group: 'apps', version: 'v1', kind: 'Deployment' } }), /only handles pods/],
      [review(undefined), /request.object is missing/],
    ];
    for (const [body, re] of bad) {
      assert.throws(() => reviewAdmission(body, cfg, 'mutate'), (e: unknown) => e instanceof KubeSgxError && e.code === 'WEBHOOK_BAD_REVIEW' && re.test(e.message), String(re));
    }
  });
  test('a structurally broken pod is denied, not crashed on', () => {
    const r = reviewAdmission(review({ spec: { containers: 'nope' } }), cfg, 'mutate');
    assert.equal(r.response.allowed, false);
    assert.match(r.response.status!.message, /spec.containers: expected an array/);
  });
});

describe('reviewAdmission never crashes on hostile input', () => {
  test('arbitrary JSON in every field: a response or WEBHOOK_BAD_REVIEW, nothing else', async () => {
    const fc = (await import('fast-check')).default;
    const json = fc.jsonValue({ maxDepth: 4 });
    const podish = fc.record(
      {
        metadata: fc.oneof(json, fc.record({ annotations: fc.oneof(json, fc.dictionary(fc.string(), fc.oneof(fc.string(), json))) })),
        spec: fc.oneof(
          json,
          fc.record({
            containers: fc.oneof(json, fc.array(fc.oneof(json, fc.record({ name: fc.oneof(fc.string(), json), resources: fc.oneof(json, fc.record({ limits: fc.oneof(json, fc.dictionary(fc.constantFrom(EPC, LEGACY, ENCLAVE, PROVISION, 'cpu', 'sgx.intel.com/x'), fc.oneof(fc.string(), json))) })), env: json, volumeMounts: json })))),
            initContainers: json,
            tolerations: json,
            affinity: json,
            volumes: json,
            nodeSelector: json,
          }),
        ),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(podish, fc.constantFrom('mutate', 'validate') as never, fc.constantFrom(undefined, 'aesmd', 'app'), (object: Obj, kind: 'mutate' | 'validate', provider) => {
        if (provider && typeof object.metadata === 'object' && object.metadata && !Array.isArray(object.metadata)) {
          (object.metadata as Obj).annotations = { 'kube-sgx.io/quote-provider': provider };
        }
        try {
          const r = reviewAdmission(JSON.stringify(review(object)), cfg, kind);
          assert.equal(typeof r.response.allowed, 'boolean');
          if (r.response.patch) assert.equal(r.response.patchType, 'JSONPatch');
        } catch (e) {
          assert.ok(e instanceof KubeSgxError && e.code === 'WEBHOOK_BAD_REVIEW', `unexpected ${String(e)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });
});
