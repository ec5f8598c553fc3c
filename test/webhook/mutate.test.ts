import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  defaultWebhookConfig as cfg,
  escapeJsonPointer,
  mutatePod,
  parseWebhookConfig,
} from '../../src/webhook/index.js';
import { KubeSgxError } from '../../src/errors.js';
import { container, limitsOf, mutateAndApply, pod, requestsOf, type Obj } from './helpers.js';

const EPC = 'sgx.intel.com/epc';
const LEGACY = 'kubernetes.azure.com/sgx_epc_mem_in_MiB';
const ENCLAVE = 'sgx.intel.com/enclave';
const PROVISION = 'sgx.intel.com/provision';
const SGX_EXPR = { key: 'sgx.intel.com/capable', operator: 'In', values: ['true'] };

const spec = (p: Obj) => p.spec as Obj;
const terms = (p: Obj) =>
  (((spec(p).affinity as Obj).nodeAffinity as Obj).requiredDuringSchedulingIgnoredDuringExecution as Obj).nodeSelectorTerms as Obj[];

describe('mutatePod: pods without EPC', () => {
  test('a plain pod passes untouched', () => {
    assert.deepEqual(mutatePod(pod([container('web', { cpu: '1', memory: '1Gi' })]), cfg), []);
  });
  test('EPC of zero is no EPC', () => {
    assert.deepEqual(mutatePod(pod([container('web', { [EPC]: '0' })]), cfg), []);
  });
  test('aesmd annotation alone does not make a pod an SGX pod', () => {
    assert.deepEqual(mutatePod(pod([container('web')], { annotations: { 'kube-sgx.io/quote-provider': 'aesmd' } }), cfg), []);
  });
});

describe('mutatePod: resource names', () => {
  test('sgx.intel.com/epc gets the enclave device in limits and requests, and a request equal to its limit', () => {
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '10Mi', cpu: '500m' })]), cfg);
    assert.deepEqual(limitsOf(out, 'containers', 0), { [EPC]: '10Mi', cpu: '500m', [ENCLAVE]: '1' });
    assert.deepEqual(requestsOf(out, 'containers', 0), { [EPC]: '10Mi', [ENCLAVE]: '1' });
  });
  test('legacy MiB name is renamed to sgx.intel.com/epc when nodes advertise only that', () => {
    const { out } = mutateAndApply(pod([container('app', { [LEGACY]: '10' }, { [LEGACY]: '10' })]), cfg);
    assert.deepEqual(limitsOf(out, 'containers', 0), { [EPC]: '10Mi', [ENCLAVE]: '1' });
    assert.deepEqual(requestsOf(out, 'containers', 0), { [EPC]: '10Mi', [ENCLAVE]: '1' });
  });
  test('emitting the legacy name only: bytes become whole MiB (rounded up)', () => {
    const legacyOnly = parseWebhookConfig({ epcResourceNames: [LEGACY], taints: [] });
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '10000000' })]), legacyOnly);
    assert.deepEqual(limitsOf(out, 'containers', 0), { [LEGACY]: '10', [ENCLAVE]: '1' });
  });
  test('emitting both names: each derived from the other, user spelling kept', () => {
    const both = parseWebhookConfig({ epcResourceNames: [EPC, LEGACY] });
    const { out } = mutateAndApply(pod([container('a', { [EPC]: '10M' }), container('b', { [LEGACY]: '3' })]), both);
    assert.deepEqual(limitsOf(out, 'containers', 0), { [EPC]: '10M', [LEGACY]: '10', [ENCLAVE]: '1' });
    assert.deepEqual(limitsOf(out, 'containers', 1), { [LEGACY]: '3', [EPC]: '3Mi', [ENCLAVE]: '1' });
  });
  test('a request-only EPC gets its limit (the API server would reject it otherwise)', () => {
    const { out } = mutateAndApply(pod([container('app', undefined, { [EPC]: '1Gi' })]), cfg);
    assert.equal(limitsOf(out, 'containers', 0)[EPC], '1Gi');
  });
  test('decimal, exponent and milli spellings are read exactly', () => {
    for (const [text, total] of [['1e6', '1000000'], ['1000m', '1'], ['2048Ki', '2Mi'], ['0.5Gi', '512Mi'], ['+4Mi', '4Mi']] as const) {
      const { out } = mutateAndApply(pod([container('app', { [EPC]: text })]), cfg);
      assert.equal(((out.metadata as Obj).annotations as Obj)[EPC], total, text);
      assert.equal(limitsOf(out, 'containers', 0)[EPC], text, 'user text is kept');
    }
  });
  test('a user-set enclave count is never overwritten', () => {
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi', [ENCLAVE]: '2' }, { [EPC]: '4Mi', [ENCLAVE]: '2' })]), cfg);
    assert.equal(limitsOf(out, 'containers', 0)[ENCLAVE], '2');
    assert.equal(requestsOf(out, 'containers', 0)[ENCLAVE], '2');
  });
  test('only EPC containers are changed; others keep their resources object', () => {
    const p = pod([container('web', { cpu: '1' }), container('enclave', { [EPC]: '8Mi' })]);
    const { ops } = mutateAndApply(p, cfg);
    assert.ok(!ops.some((o) => o.path.startsWith('/spec/containers/0/')));
  });
  test('malformed EPC quantity denies with the container and field named', () => {
    assert.throws(
      () => mutatePod(pod([container('app', { [EPC]: '10MB' })]), cfg),
      (e: unknown) => e instanceof KubeSgxError && e.code === 'WEBHOOK_POD_INVALID' && /container "app": resources.limits\["sgx.intel.com\/epc"\]/.test(e.message),
    );
    assert.throws(() => mutatePod(pod([container('app', { [EPC]: '100m' })]), cfg), /not a whole number of bytes/);
    assert.throws(() => mutatePod(pod([container('app', { [LEGACY]: '1.5' })]), cfg), /not a whole number of MiB/);
  });
  test('both names disagreeing is refused, not silently resolved', () => {
    assert.throws(() => mutatePod(pod([container('app', { [EPC]: '10Mi', [LEGACY]: '12' })]), cfg), /disagree/);
  });
});

describe('mutatePod: init containers and totals', () => {
  test('init containers with EPC are mutated too', () => {
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })], { init: [container('seal', { [EPC]: '16Mi' })] }), cfg);
    assert.equal(limitsOf(out, 'initContainers', 0)[ENCLAVE], '1');
    assert.equal(limitsOf(out, 'containers', 0)[ENCLAVE], '1');
    // Effective pod EPC = max(app sum 4Mi, init peak 16Mi).
    assert.equal(((out.metadata as Obj).annotations as Obj)[EPC], '16Mi');
  });
  test('app containers add up; sidecar init containers run beside them', () => {
    const p = pod([container('a', { [EPC]: '4Mi' }), container('b', { [EPC]: '6Mi' })], {
      init: [container('side', { [EPC]: '2Mi' }, undefined, { restartPolicy: 'Always' })],
    });
    const { out } = mutateAndApply(p, cfg);
    assert.equal(((out.metadata as Obj).annotations as Obj)[EPC], '12Mi');
  });
  test('a user-set EPC annotation is kept', () => {
    const { out } = mutateAndApply(pod([container('a', { [EPC]: '4Mi' })], { annotations: { [EPC]: '99Mi' } }), cfg);
    assert.equal(((out.metadata as Obj).annotations as Obj)[EPC], '99Mi');
  });
  test('pod without metadata gets metadata with the annotation', () => {
    const p = { spec: { containers: [container('a', { [EPC]: '4Mi' })] } };
    const { out } = mutateAndApply(p, cfg);
    assert.deepEqual(out.metadata, { annotations: { [EPC]: '4Mi' } });
  });
});

describe('mutatePod: quote provider', () => {
  const aesmd = { 'kube-sgx.io/quote-provider': 'aesmd' };
  test('aesmd: SGX_AESM_ADDR=1 in every EPC container (init included), no volume: the socket comes from the device plugin', () => {
    const p = pod([container('app', { [EPC]: '4Mi' }), container('web')], { annotations: aesmd, init: [container('init', { [EPC]: '1Mi' })] });
    const { out } = mutateAndApply(p, cfg);
    assert.equal(spec(out).volumes, undefined);
    for (const c of [(spec(out).containers as Obj[])[0]!, (spec(out).initContainers as Obj[])[0]!]) {
      assert.equal(c.volumeMounts, undefined);
      assert.deepEqual(c.env, [{ name: 'SGX_AESM_ADDR', value: '1' }]);
    }
    const web = (spec(out).containers as Obj[])[1]!;
    assert.equal(web.env, undefined);
    assert.equal(web.volumeMounts, undefined);
  });
  test('aesmd: existing env is appended to, mounts and volumes left as they are', () => {
    const p = pod(
      [container('app', { [EPC]: '4Mi' }, undefined, { env: [{ name: 'A', value: 'b' }], volumeMounts: [{ name: 'data', mountPath: '/data' }] })],
      { annotations: aesmd, spec: { volumes: [{ name: 'data', emptyDir: {} }] } },
    );
    const { out } = mutateAndApply(p, cfg);
    const c = (spec(out).containers as Obj[])[0]!;
    assert.deepEqual(c.env, [{ name: 'A', value: 'b' }, { name: 'SGX_AESM_ADDR', value: '1' }]);
    assert.deepEqual(c.volumeMounts, [{ name: 'data', mountPath: '/data' }]);
    assert.equal((spec(out).volumes as Obj[]).length, 1);
  });
  test('aesmd: a user value for SGX_AESM_ADDR and their own socket volume are kept', () => {
    const p = pod(
      [container('app', { [EPC]: '4Mi' }, undefined, { env: [{ name: 'SGX_AESM_ADDR', value: 'custom' }], volumeMounts: [{ name: 'my-aesmd', mountPath: '/var/run/aesmd' }] })],
      { annotations: aesmd, spec: { volumes: [{ name: 'my-aesmd', hostPath: { path: '/var/run/aesmd' } }] } },
    );
    const { out } = mutateAndApply(p, cfg);
    const c = (spec(out).containers as Obj[])[0]!;
    assert.deepEqual(c.env, [{ name: 'SGX_AESM_ADDR', value: 'custom' }]);
    assert.deepEqual(c.volumeMounts, [{ name: 'my-aesmd', mountPath: '/var/run/aesmd' }]);
    assert.equal((spec(out).volumes as Obj[]).length, 1);
  });
  test('aesmd: a container already mounting /var/run/aesmd is not given a second mount', () => {
    const p = pod([container('app', { [EPC]: '4Mi' }, undefined, { volumeMounts: [{ name: 'sock', mountPath: '/var/run/aesmd' }] })], {
      annotations: aesmd,
      spec: { volumes: [{ name: 'sock', emptyDir: { medium: 'Memory' } }] },
    });
    const { out } = mutateAndApply(p, cfg);
    assert.equal((spec(out).volumes as Obj[]).length, 1, 'no unused aesmd volume added');
  });
  test('container name: provision device on that container only', () => {
    const p = pod([container('quoter', { [EPC]: '4Mi' }), container('other', { [EPC]: '4Mi' })], { annotations: { 'kube-sgx.io/quote-provider': 'quoter' } });
    const { out } = mutateAndApply(p, cfg);
    assert.equal(limitsOf(out, 'containers', 0)[PROVISION], '1');
    assert.equal(requestsOf(out, 'containers', 0)[PROVISION], '1');
    assert.equal(limitsOf(out, 'containers', 1)[PROVISION], undefined);
    assert.equal(spec(out).volumes, undefined);
  });
  test('an unknown provider changes nothing beyond the EPC defaults (validation denies it)', () => {
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })], { annotations: { 'kube-sgx.io/quote-provider': 'pccs' } }), cfg);
    assert.equal(limitsOf(out, 'containers', 0)[PROVISION], undefined);
  });
});

describe('mutatePod: placement', () => {
  test('no affinity: a required SGX node term; tolerations for the pool taint and each SGX resource', () => {
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })]), cfg);
    assert.deepEqual(terms(out), [{ matchExpressions: [SGX_EXPR] }]);
    assert.deepEqual(spec(out).tolerations, [
      { key: EPC, operator: 'Exists', effect: 'NoSchedule' },
      { key: ENCLAVE, operator: 'Exists', effect: 'NoSchedule' },
    ]);
  });
  test('user node terms are ORed: the SGX expression is ANDed into each one', () => {
    const p = pod([container('app', { [EPC]: '4Mi' })], {
      spec: {
        affinity: {
          podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] },
          nodeAffinity: {
            preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 1, preference: { matchExpressions: [{ key: 'disk', operator: 'In', values: ['ssd'] }] } }],
            requiredDuringSchedulingIgnoredDuringExecution: {
              nodeSelectorTerms: [
                { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }] },
                { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }] },
                { matchExpressions: [SGX_EXPR] },
              ],
            },
          },
        },
      },
    });
    const { out } = mutateAndApply(p, cfg);
    const t = terms(out);
    assert.deepEqual(t[0], { matchExpressions: [{ key: 'zone', operator: 'In', values: ['a'] }, SGX_EXPR] });
    assert.deepEqual(t[1], { matchFields: [{ key: 'metadata.name', operator: 'In', values: ['n1'] }], matchExpressions: [SGX_EXPR] });
    assert.deepEqual(t[2], { matchExpressions: [SGX_EXPR] });
    assert.ok(((spec(out).affinity as Obj).podAntiAffinity as Obj) !== undefined, 'pod anti-affinity kept');
    assert.equal((((spec(out).affinity as Obj).nodeAffinity as Obj).preferredDuringSchedulingIgnoredDuringExecution as Obj[]).length, 1);
  });
  test('affinity without nodeAffinity, and nodeAffinity without required terms', () => {
    const a = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })], { spec: { affinity: { podAffinity: {} } } }), cfg).out;
    assert.deepEqual(terms(a), [{ matchExpressions: [SGX_EXPR] }]);
    const b = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })], { spec: { affinity: { nodeAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [] } } } }), cfg).out;
    assert.deepEqual(terms(b), [{ matchExpressions: [SGX_EXPR] }]);
  });
  test('a nodeSelector already pinning the SGX label needs no affinity', () => {
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })], { spec: { nodeSelector: { 'sgx.intel.com/capable': 'true' } } }), cfg);
    assert.equal(spec(out).affinity, undefined);
  });
  test('existing tolerations are kept, and a broad one counts as tolerating', () => {
    const p = pod([container('app', { [EPC]: '4Mi' })], { spec: { tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'x', effect: 'NoSchedule' }] } });
    const { out } = mutateAndApply(p, cfg);
    assert.equal((spec(out).tolerations as Obj[]).length, 3);
    assert.deepEqual((spec(out).tolerations as Obj[])[0], { key: 'dedicated', operator: 'Equal', value: 'x', effect: 'NoSchedule' });
    const broad = pod([container('app', { [EPC]: '4Mi' })], { spec: { tolerations: [{ operator: 'Exists' }] } });
    assert.deepEqual(mutateAndApply(broad, cfg).out.spec && spec(mutateAndApply(broad, cfg).out).tolerations, [{ operator: 'Exists' }]);
  });
  test('configurable label and valued taint', () => {
    const c = parseWebhookConfig({
      nodeLabel: { key: 'kubernetes.azure.com/agentpool', value: 'acc' },
      taints: [{ key: 'pool', value: 'sgx', effect: 'NoSchedule' }],
      tolerateRequestedResources: false,
    });
    const { out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })]), c);
    assert.deepEqual(terms(out), [{ matchExpressions: [{ key: 'kubernetes.azure.com/agentpool', operator: 'In', values: ['acc'] }] }]);
    assert.deepEqual(spec(out).tolerations, [{ key: 'pool', operator: 'Equal', value: 'sgx', effect: 'NoSchedule' }]);
  });
});

describe('JSON Pointer', () => {
  test('escapes ~ then /', () => {
    assert.equal(escapeJsonPointer('sgx.intel.com/epc'), 'sgx.intel.com~1epc');
    assert.equal(escapeJsonPointer('a~/b'), 'a~0~1b');
  });
  test('annotation keys with / and ~ are addressed correctly', () => {
    const c = parseWebhookConfig({ epcAnnotation: 'example.com/epc~total' });
    const { ops, out } = mutateAndApply(pod([container('app', { [EPC]: '4Mi' })], { annotations: { x: 'y' } }), c);
    assert.ok(ops.some((o) => o.path === '/metadata/annotations/example.com~1epc~0total'));
    assert.equal(((out.metadata as Obj).annotations as Obj)['example.com/epc~total'], '4Mi');
  });
});

describe('mutatePod: properties', () => {
  const epcText = fc.oneof(
    fc.integer({ min: 1, max: 4096 }).map((n) => `${n}Mi`),
    fc.integer({ min: 1, max: 1 << 30 }).map(String),
    fc.integer({ min: 1, max: 64 }).map((n) => `${n}Gi`),
    fc.integer({ min: 1, max: 999 }).map((n) => `${n}M`),
  );
  const res = fc.record(
    { epc: fc.option(epcText, { nil: undefined }), legacy: fc.option(fc.integer({ min: 1, max: 512 }).map(String), { nil: undefined }), both: fc.boolean(), cpu: fc.boolean() },
  );
  const arbContainer = (prefix: string) =>
    fc.tuple(res, fc.integer({ min: 0, max: 99 }), fc.boolean(), fc.boolean()).map(([r, n, env, mounts]) => {
      const limits: Obj = {};
      if (r.epc) limits[EPC] = r.epc;
      else if (r.legacy) limits[LEGACY] = r.legacy;
      if (r.cpu) limits.cpu = '1';
      return container(`${prefix}${n}`, Object.keys(limits).length ? limits : undefined, r.both && Object.keys(limits).length ? { ...limits } : undefined, {
        ...(env ? { env: [{ name: 'X', value: '1' }] } : {}),
        ...(mounts ? { volumeMounts: [{ name: 'v', mountPath: '/v' }] } : {}),
      });
    });
  test('every patch applies cleanly and a second pass is empty (random pods, all configs)', () => {
    const configs = [cfg, parseWebhookConfig({ epcResourceNames: [EPC, LEGACY] }), parseWebhookConfig({ epcResourceNames: [LEGACY] })];
    fc.assert(
      fc.property(
        fc.array(arbContainer('c'), { minLength: 1, maxLength: 4 }),
        fc.array(arbContainer('i'), { maxLength: 2 }),
        fc.constantFrom(undefined, 'aesmd', 'c1', 'nope'),
        fc.boolean(),
        fc.boolean(),
        fc.integer({ min: 0, max: 2 }),
        (cs, is, provider, tol, aff, ci) => {
          const p = pod(cs, {
            init: is.length ? is : undefined,
            annotations: provider ? { 'kube-sgx.io/quote-provider': provider } : undefined,
            spec: {
              ...(tol ? { tolerations: [{ key: 'k', operator: 'Exists', effect: 'NoExecute' }] } : {}),
              ...(aff ? { affinity: { nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'z', operator: 'Exists' }] }] } } } } : {}),
            },
          });
          mutateAndApply(p, configs[ci]!);
        },
      ),
      { numRuns: 300 },
    );
  });
});
