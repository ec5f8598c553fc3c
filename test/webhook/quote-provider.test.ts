/**
 * Issue 17 §5/§6: Intel's `sgx.intel.com/quote-provider` annotation is honoured
 * as Intel's webhook does (pkg/webhooks/sgx/sgx.go), kube-sgx's own wins when
 * both are set, and the pods the webhook mutates pass Pod Security "baseline":
 * the aesmd socket reaches app containers through the device plugin's Allocate
 * mounts, never through a hostPath volume added to the user's pod.
 * Pod specs: Intel's deployments/sgx_enclave_apps and sgx_aesmd, and the AKS
 * confcom out-of-process quoting contract.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { defaultWebhookConfig, validatePod } from '../../src/webhook/index.js';
import { limitsOf, mutateAndApply, requestsOf, type Obj } from './helpers.js';
import { baselineViolations } from './pod-security.js';

const cfg = defaultWebhookConfig;
const INTEL = 'sgx.intel.com/quote-provider';
const KUBE_SGX = 'kube-sgx.io/quote-provider';

/** The pod template of Intel's intelsgx-demo-job (deployments/sgx_enclave_apps/base/intelsgx-job.yaml), with the overlay's annotation. */
function intelDemoJob(annotations: Record<string, string>, extraSpec: Obj = {}, extraContainer: Obj = {}): Obj {
  return {
    metadata: { labels: { jobgroup: 'intelsgx-demo' }, annotations },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'intelsgx-demo-job-1',
          image: 'intel/sgx-sdk-demo:devel',
          imagePullPolicy: 'IfNotPresent',
          workingDir: '/opt/intel/sgx-sample-app/',
          command: ['/opt/intel/sgx-sample-app/sgx-sample-app'],
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
          resources: { limits: { 'sgx.intel.com/epc': '512Ki' } },
          ...extraContainer,
        },
      ],
      ...extraSpec,
    },
  };
}

/** Intel's aesmd DaemonSet pod (deployments/sgx_aesmd/base/intel-sgx-aesmd.yaml). */
function intelAesmdDaemon(): Obj {
  return {
    metadata: { labels: { app: 'intel-sgx-aesmd' }, annotations: { [INTEL]: 'aesmd' } },
    spec: {
      containers: [
        {
          name: 'aesmd',
          image: 'intel/sgx-aesmd-demo:devel',
          securityContext: { readOnlyRootFilesystem: true, allowPrivilegeEscalation: false },
          resources: { limits: { 'sgx.intel.com/epc': '1Mi' } },
          volumeMounts: [
            { name: 'aesmdconf', mountPath: '/etc/aesmd.conf', subPath: 'aesmd.conf' },
            { name: 'qplconf', mountPath: '/etc/sgx_default_qcnl.conf', subPath: 'sgx_default_qcnl.conf' },
          ],
        },
      ],
      volumes: [
        { name: 'aesmdconf', configMap: { name: 'sgx-attestation-conf', items: [{ key: 'aesmd.conf', path: 'aesmd.conf' }] } },
        { name: 'qplconf', configMap: { name: 'sgx-attestation-conf', items: [{ key: 'sgx_default_qcnl.conf', path: 'sgx_default_qcnl.conf' }] } },
      ],
    },
  };
}

/** The AKS confcom out-of-process contract: SGX_AESM_ADDR=1 and the user's own hostPath mount of /var/run/aesmd. */
function aksOutOfProc(withHostPath: boolean, annotations?: Record<string, string>): Obj {
  return {
    metadata: { labels: { app: 'oe-helloworld' }, ...(annotations ? { annotations } : {}) },
    spec: {
      restartPolicy: 'Never',
      containers: [
        {
          name: 'oe-helloworld',
          image: 'mcr.microsoft.com/acc/samples/oe-helloworld:latest',
          resources: { limits: { 'sgx.intel.com/epc': '10Mi' }, requests: { 'sgx.intel.com/epc': '10Mi' } },
          env: [{ name: 'SGX_AESM_ADDR', value: '1' }],
          ...(withHostPath ? { volumeMounts: [{ name: 'var-run-aesmd', mountPath: '/var/run/aesmd' }] } : {}),
        },
      ],
      ...(withHostPath ? { volumes: [{ name: 'var-run-aesmd', hostPath: { path: '/var/run/aesmd' } }] } : {}),
    },
  };
}

const containers = (p: Obj) => (p.spec as Obj).containers as Obj[];

describe("Intel's sgx.intel.com/quote-provider annotation", () => {
  test('aesmd (Intel’s ecdsa-quote overlay): SGX_AESM_ADDR=1 and the enclave device, no volume; passes baseline', () => {
    const p = intelDemoJob({ [INTEL]: 'aesmd' });
    assert.deepEqual(baselineViolations(p), []);
    const { out } = mutateAndApply(p, cfg);
    const c = containers(out)[0]!;
    assert.deepEqual(c.env, [{ name: 'SGX_AESM_ADDR', value: '1' }]);
    assert.equal(c.volumeMounts, undefined);
    assert.equal((out.spec as Obj).volumes, undefined);
    assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/enclave'], '1');
    assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/provision'], undefined);
    assert.equal((out.metadata as { annotations: Obj }).annotations['sgx.intel.com/epc'], '512Ki');
    assert.deepEqual(baselineViolations(out), []);
    assert.equal(validatePod(out, cfg).allowed, true);
  });

  test('a container name (Intel’s inproc overlay): that container gets sgx.intel.com/provision: 1; passes baseline', () => {
    const p = intelDemoJob(
      { [INTEL]: 'intelsgx-demo-job-1' },
      { volumes: [{ name: 'qplconf', configMap: { name: 'sgx-attestation-conf', items: [{ key: 'sgx_default_qcnl.conf', path: 'sgx_default_qcnl.conf' }] } }] },
      { volumeMounts: [{ name: 'qplconf', mountPath: '/etc/sgx_default_qcnl.conf', subPath: 'sgx_default_qcnl.conf' }] },
    );
    const { out } = mutateAndApply(p, cfg);
    assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/provision'], '1');
    assert.equal(requestsOf(out, 'containers', 0)['sgx.intel.com/provision'], '1');
    assert.equal(containers(out)[0]!.env, undefined, 'in-process quoting: no SGX_AESM_ADDR');
    assert.deepEqual(baselineViolations(out), []);
    assert.equal(validatePod(out, cfg).allowed, true);
  });

  test('Intel’s aesmd sidecar layout: an in-memory emptyDir shared by aesmd and the app; passes baseline', () => {
    const p = intelDemoJob({ [INTEL]: 'aesmd' });
    containers(p).push({ name: 'aesmd', image: 'intel/sgx-aesmd-demo:devel', resources: { limits: { 'sgx.intel.com/epc': '1Mi' } } });
    const { out } = mutateAndApply(p, cfg);
    assert.deepEqual((out.spec as Obj).volumes, [{ name: 'aesmd-socket', emptyDir: { medium: 'Memory' } }]);
    for (const c of containers(out)) {
      assert.deepEqual(c.volumeMounts, [{ name: 'aesmd-socket', mountPath: '/var/run/aesmd' }]);
      assert.deepEqual(c.env, [{ name: 'SGX_AESM_ADDR', value: '1' }]);
    }
    // As in Intel's webhook, the annotation value names the aesmd container, which so gets the provisioning device.
    assert.equal(limitsOf(out, 'containers', 1)['sgx.intel.com/provision'], '1');
    assert.deepEqual(baselineViolations(out), []);
  });

  test('Intel’s aesmd DaemonSet (the pod that creates the node’s socket) gets the host directory, as Intel’s webhook gives it', () => {
    const { out } = mutateAndApply(intelAesmdDaemon(), cfg);
    const volumes = (out.spec as Obj).volumes as Obj[];
    assert.deepEqual(volumes.at(-1), { name: 'aesmd-socket', hostPath: { path: '/var/run/aesmd', type: 'DirectoryOrCreate' } });
    assert.deepEqual(containers(out)[0]!.volumeMounts, [
      { name: 'aesmdconf', mountPath: '/etc/aesmd.conf', subPath: 'aesmd.conf' },
      { name: 'qplconf', mountPath: '/etc/sgx_default_qcnl.conf', subPath: 'sgx_default_qcnl.conf' },
      { name: 'aesmd-socket', mountPath: '/var/run/aesmd' },
    ]);
    // A node daemon, not a workload: it runs in a namespace whose Pod Security level allows hostPath.
    assert.deepEqual(baselineViolations(out), ['spec.volumes[2].hostPath']);
  });

  test('an unknown value is ignored, as Intel’s webhook ignores it (not denied)', () => {
    const { out } = mutateAndApply(intelDemoJob({ [INTEL]: 'pccs' }), cfg);
    assert.equal(containers(out)[0]!.env, undefined);
    assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/provision'], undefined);
    assert.equal(validatePod(out, cfg).allowed, true);
  });
});

describe('both annotations: kube-sgx.io/quote-provider wins', () => {
  test('kube-sgx aesmd + Intel container name → out-of-process only', () => {
    const { out } = mutateAndApply(intelDemoJob({ [KUBE_SGX]: 'aesmd', [INTEL]: 'intelsgx-demo-job-1' }), cfg);
    assert.deepEqual(containers(out)[0]!.env, [{ name: 'SGX_AESM_ADDR', value: '1' }]);
    assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/provision'], undefined);
  });
  test('kube-sgx container name + Intel aesmd → in-process only', () => {
    const { out } = mutateAndApply(intelDemoJob({ [KUBE_SGX]: 'intelsgx-demo-job-1', [INTEL]: 'aesmd' }), cfg);
    assert.equal(containers(out)[0]!.env, undefined);
    assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/provision'], '1');
  });
  test('a bad kube-sgx value is denied even when Intel’s is valid', () => {
    const v = validatePod(intelDemoJob({ [KUBE_SGX]: 'nope', [INTEL]: 'aesmd' }), cfg);
    assert.equal(v.allowed, false);
    assert.match(v.message, /kube-sgx\.io\/quote-provider="nope"/);
  });
});

describe('AKS confcom pods', () => {
  test('the AKS out-of-process pod: the webhook adds nothing beyond what baseline already flags (the user’s own hostPath)', () => {
    const p = aksOutOfProc(true);
    const { out } = mutateAndApply(p, cfg);
    assert.deepEqual(baselineViolations(out), baselineViolations(p));
    assert.deepEqual(baselineViolations(out), ['spec.volumes[0].hostPath']);
    assert.equal(validatePod(out, cfg).allowed, true);
  });
  test('the same pod without its hostPath, annotated aesmd: passes baseline, socket from the device plugin', () => {
    for (const annotation of [KUBE_SGX, INTEL]) {
      const { out } = mutateAndApply(aksOutOfProc(false, { [annotation]: 'aesmd' }), cfg);
      assert.deepEqual(baselineViolations(out), [], annotation);
      assert.deepEqual(containers(out)[0]!.env, [{ name: 'SGX_AESM_ADDR', value: '1' }], 'the user’s SGX_AESM_ADDR is kept, not duplicated');
      assert.equal(limitsOf(out, 'containers', 0)['sgx.intel.com/enclave'], '1');
    }
  });
});

describe('the baseline checker itself', () => {
  test('flags each baseline control', () => {
    const bad = {
      metadata: { annotations: { 'container.apparmor.security.beta.kubernetes.io/a': 'unconfined' } },
      spec: {
        hostPID: true,
        securityContext: { sysctls: [{ name: 'kernel.msgmax', value: '1' }] },
        volumes: [{ name: 'h', hostPath: { path: '/' } }],
        containers: [
          { name: 'a', securityContext: { privileged: true, capabilities: { add: ['SYS_ADMIN'] }, procMount: 'Unmasked', seccompProfile: { type: 'Unconfined' } }, ports: [{ containerPort: 80, hostPort: 80 }] },
        ],
      },
    };
    assert.deepEqual(baselineViolations(bad).length, 9);
  });
});
