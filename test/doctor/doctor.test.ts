/**
 * `kube-sgx doctor` against a local HTTP server on 127.0.0.1 that answers the
 * Kubernetes API paths the doctor reads (a kubeconfig points at it).
 */
import { before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateWebhookCertificates, type WebhookCertBundle } from '../../src/webhook/certs.js';
import { buildWebhookConfigurations } from '../../src/webhook/manifests.js';
import { formatDoctorReport, parseNodeGroupTemplates, runDoctor } from '../../src/doctor/doctor.js';
import { runCli } from '../cli/run.js';
import { fakeApi, kubeConfigFor, list, node, b64, type Routes } from './fake-api.js';

function readyPod(name: string, nodeName: string, app: string) {
  return {
    metadata: { name, namespace: 'kube-sgx', labels: { app } },
    spec: { nodeName, containers: [{ name: 'c', image: 'x' }] },
    status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] },
  };
}
function daemonSet(name: string, app: string) {
  return { apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name, namespace: 'kube-sgx' }, spec: { selector: { matchLabels: { app } }, template: {} } };
}
const SGX_LABEL = { 'sgx.intel.com/capable': 'true' };
const SGX_TAINT = [{ key: 'sgx.intel.com/epc', effect: 'NoSchedule' }];
const GOOD_CAP = { 'sgx.intel.com/epc': '68719476736', 'sgx.intel.com/enclave': '110', 'sgx.intel.com/provision': '110' };


function healthyRoutes(ca: WebhookCertBundle): Routes {
  const { mutating, validating } = buildWebhookConfigurations({ caBundlePem: ca.caCertPem });
  return {
    '/api/v1/nodes': list('NodeList', [
      node('sgx-1', { labels: SGX_LABEL, taints: SGX_TAINT, capacity: GOOD_CAP }),
      node('plain-1', {}),
    ]),
    '/apis/apps/v1/namespaces/kube-sgx/daemonsets/kube-sgx-node-agent': daemonSet('kube-sgx-node-agent', 'node-agent'),
    '/apis/apps/v1/namespaces/kube-sgx/daemonsets/kube-sgx-quote-helper': daemonSet('kube-sgx-quote-helper', 'quote-helper'),
    '/api/v1/namespaces/kube-sgx/pods?labelSelector=app=node-agent': list('PodList', [readyPod('na-1', 'sgx-1', 'node-agent')]),
    '/api/v1/namespaces/kube-sgx/pods?labelSelector=app=quote-helper': list('PodList', [readyPod('qh-1', 'sgx-1', 'quote-helper')]),
    '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations': list('MutatingWebhookConfigurationList', [mutating]),
    '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations': list('ValidatingWebhookConfigurationList', [validating]),
    '/api/v1/namespaces/kube-sgx/secrets/kube-sgx-webhook-tls': { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'kube-sgx-webhook-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': b64(ca.certPem), 'tls.key': b64(ca.keyPem) } },
  };
}

describe('kube-sgx doctor', () => {
  let good: WebhookCertBundle;
  let shortLived: WebhookCertBundle;
  let other: WebhookCertBundle;
  before(async () => {
    good = await generateWebhookCertificates({ dnsNames: ['kube-sgx-webhook.kube-sgx.svc'] });
    shortLived = await generateWebhookCertificates({ dnsNames: ['kube-sgx-webhook.kube-sgx.svc'], caDays: 10, days: 5 });
    other = await generateWebhookCertificates({ dnsNames: ['kube-sgx-webhook.kube-sgx.svc'] });
  });

  test('a healthy cluster: no findings, exit 0 through the CLI', async () => {
    const api = await fakeApi(healthyRoutes(good));
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-doctor-'));
    try {
      const report = await runDoctor({ kubeConfig: kubeConfigFor(api.url) });
      assert.deepEqual(report.findings, []);
      assert.equal(report.ok, true);
      assert.deepEqual(report.sgxNodes, ['sgx-1']);
      assert.ok(report.notes.some((n) => /Cluster API not installed/.test(n)));
      assert.match(formatDoctorReport(report), /OK: no problems found/);
      // The CLI, in a child process, with a kubeconfig file pointing at the fake API.
      const kubeconfig = join(dir, 'kubeconfig');
      await writeFile(kubeconfig, kubeConfigFor(api.url).exportConfig());
      const r = await runCli(['doctor', '--kubeconfig', kubeconfig, '--json']);
      assert.equal(r.status, 0, r.stderr);
      assert.equal((JSON.parse(r.stdout) as { ok: boolean }).ok, true);
    } finally {
      api.server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('a broken cluster: every problem class is reported, exit 1 through the CLI', async () => {
    const routes = healthyRoutes(good);
    const { mutating } = buildWebhookConfigurations({ caBundlePem: shortLived.caCertPem, failurePolicy: 'Ignore' });
    Object.assign(routes, {
      '/api/v1/nodes': list('NodeList', [
        node('sgx-1', { labels: SGX_LABEL, taints: SGX_TAINT, capacity: GOOD_CAP }),
        // Labelled by NFD only, no taint, EPC zeroed by a kubelet reset, no enclave slots.
        node('sgx-2', { labels: { 'intel.feature.node.kubernetes.io/sgx': 'true' }, capacity: { 'sgx.intel.com/epc': '0' } }),
        node('plain-1', {}),
      ]),
      '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations': list('MutatingWebhookConfigurationList', [mutating]),
      '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations': list('ValidatingWebhookConfigurationList', []),
      '/api/v1/namespaces/kube-sgx/secrets/kube-sgx-webhook-tls': { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, data: { 'tls.crt': b64(other.certPem) } },
      // Cluster API v1beta1 only (v1beta2 answers 404).
      '/apis/cluster.x-k8s.io/v1beta1/machinedeployments': list('MachineDeploymentList', [
        {
          metadata: { name: 'sgx-pool', namespace: 'capi', annotations: { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '0', 'capacity.cluster-autoscaler.kubernetes.io/labels': 'sgx.intel.com/capable=true' } },
          spec: { template: { spec: { infrastructureRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'AzureMachineTemplate', name: 'sgx-dc4' } } } },
        },
        {
          metadata: { name: 'sgx-ok', namespace: 'capi', annotations: { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '0', 'capacity.cluster-autoscaler.kubernetes.io/labels': 'sgx.intel.com/capable=true' } },
          spec: { template: { spec: { infrastructureRef: { apiVersion: 'infrastructure.cluster.x-k8s.io/v1beta1', kind: 'AzureMachineTemplate', name: 'sgx-dc8' } } } },
        },
        { metadata: { name: 'general', namespace: 'capi', annotations: { 'cluster.x-k8s.io/cluster-api-autoscaler-node-group-min-size': '0' } }, spec: { template: { spec: {} } } },
      ]),
      '/apis/cluster.x-k8s.io/v1beta1/machinesets': list('MachineSetList', []),
      '/apis/infrastructure.cluster.x-k8s.io/v1beta1/namespaces/capi/azuremachinetemplates/sgx-dc4': { status: { capacity: { cpu: '4', memory: '16Gi' } } },
      '/apis/infrastructure.cluster.x-k8s.io/v1beta1/namespaces/capi/azuremachinetemplates/sgx-dc8': { status: { capacity: { cpu: '8', 'sgx.intel.com/epc': '64Gi' } } },
    });
    delete routes['/apis/apps/v1/namespaces/kube-sgx/daemonsets/kube-sgx-quote-helper'];
    const nodeGroups = parseNodeGroupTemplates(
      JSON.stringify([
        { name: 'aks-acc-vmss', provider: 'azure', minSize: 0, tags: { 'k8s.io_cluster-autoscaler_node-template_label_sgx.intel.com_capable': 'true' } },
        { name: 'eks-sgx', provider: 'aws', minSize: 0, tags: { 'k8s.io/cluster-autoscaler/node-template/label/sgx.intel.com/capable': 'true', 'k8s.io/cluster-autoscaler/node-template/resources/sgx.intel.com/epc': '64Gi' } },
        { name: 'eks-general', provider: 'aws', minSize: 0, tags: {} },
      ]),
    );
    const api = await fakeApi(routes);
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-doctor-'));
    try {
      const report = await runDoctor({ kubeConfig: kubeConfigFor(api.url), nodeGroups });
      const got = report.findings.map((f) => `${f.code} ${f.subject}`).sort();
      assert.deepEqual(got, [
        'AUTOSCALER_TEMPLATE_NO_EPC machinedeployment/capi/sgx-pool',
        'AUTOSCALER_TEMPLATE_NO_EPC nodegroup/azure/aks-acc-vmss',
        'CERT_EXPIRING mutatingwebhookconfiguration/kube-sgx-webhook/mutate.pods.kube-sgx.io',
        'NODE_AGENT_MISSING node/sgx-2',
        'NODE_ENCLAVE_MISSING node/sgx-2',
        'NODE_EPC_MISSING node/sgx-2',
        'NODE_LABEL_MISSING node/sgx-2',
        'NODE_TAINT_MISSING node/sgx-2',
        'QUOTE_HELPER_MISSING daemonset/kube-sgx/kube-sgx-quote-helper',
        'WEBHOOK_CERT_NOT_TRUSTED secret/kube-sgx/kube-sgx-webhook-tls',
        'WEBHOOK_FAILURE_POLICY_IGNORE mutatingwebhookconfiguration/kube-sgx-webhook/mutate.pods.kube-sgx.io',
        'WEBHOOK_MISSING validatingwebhookconfiguration/kube-sgx-webhook',
      ]);
      assert.equal(report.ok, false);
      const epc = report.findings.find((f) => f.code === 'AUTOSCALER_TEMPLATE_NO_EPC' && f.subject.startsWith('nodegroup'))!;
      assert.match(epc.fix, /k8s\.io_cluster-autoscaler_node-template_resources_sgx\.intel\.com_epc=/);
      assert.ok(api.seen.includes('/apis/cluster.x-k8s.io/v1beta2/machinedeployments'), 'tries v1beta2 first');
      const text = formatDoctorReport(report);
      assert.match(text, /ERROR {3}NODE_EPC_MISSING node\/sgx-2/);
      // A missing taint is a warning (issue 17 §7): the node still runs SGX pods.
      assert.equal(report.findings.find((f) => f.code === 'NODE_TAINT_MISSING')?.severity, 'warning');
      assert.equal(report.errors, 9);
      assert.equal(report.warnings, 3);
      assert.match(text, /9 error\(s\), 3 warning\(s\)/);

      const kubeconfig = join(dir, 'kubeconfig');
      await writeFile(kubeconfig, kubeConfigFor(api.url).exportConfig());
      const r = await runCli(['doctor', '--kubeconfig', kubeconfig]);
      assert.equal(r.status, 1, r.stderr);
      assert.match(r.stdout, /NODE_TAINT_MISSING node\/sgx-2/);
    } finally {
      api.server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('unreachable API is a typed error; bad node-groups file names the field', async () => {
    const kc = kubeConfigFor('http://127.0.0.1:9');
    await assert.rejects(runDoctor({ kubeConfig: kc }), (e: unknown) => (e as { code?: string }).code === 'DOCTOR_API_UNREACHABLE');
    assert.throws(() => parseNodeGroupTemplates('[{"name": "x", "provider": "gcp"}]'), /0\.provider/);
  });


  test('warnings only (an untainted SGX node): reported, exit 0', async () => {
    const routes = healthyRoutes(good);
    routes['/api/v1/nodes'] = list('NodeList', [node('sgx-1', { labels: SGX_LABEL, capacity: GOOD_CAP })]);
    const api = await fakeApi(routes);
    const dir = await mkdtemp(join(tmpdir(), 'kube-sgx-doctor-'));
    try {
      const kubeconfig = join(dir, 'kubeconfig');
      await writeFile(kubeconfig, kubeConfigFor(api.url).exportConfig());
      const r = await runCli(['doctor', '--kubeconfig', kubeconfig]);
      assert.equal(r.status, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /WARNING NODE_TAINT_MISSING node\/sgx-1/);
      assert.match(r.stdout, /0 error\(s\), 1 warning\(s\)/);
    } finally {
      api.server.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('could not check: no kubeconfig says so, an unreachable API is exit 3, not 1', async () => {
    const home = await mkdtemp(join(tmpdir(), 'kube-sgx-home-'));
    try {
      // No kubeconfig anywhere: an empty home, KUBECONFIG empty, not in a pod.
      const env = { HOME: home, KUBECONFIG: '', KUBERNETES_SERVICE_HOST: '' };
      const none = await runCli(['doctor'], { env });
      assert.equal(none.status, 3, none.stdout + none.stderr);
      const err = (JSON.parse(none.stdout) as { error: { code: string; message: string } }).error;
      assert.equal(err.code, 'KUBECONFIG_MISSING');
      assert.match(err.message, /no kubeconfig/);
      assert.doesNotMatch(none.stdout + none.stderr, /HTTP protocol is not allowed/);

      const kubeconfig = join(home, 'kubeconfig');
      await writeFile(kubeconfig, kubeConfigFor('http://127.0.0.1:9').exportConfig());
      const down = await runCli(['doctor', '--kubeconfig', kubeconfig], { env });
      assert.equal(down.status, 3, down.stdout + down.stderr);
      assert.equal((JSON.parse(down.stdout) as { error: { code: string } }).error.code, 'DOCTOR_API_UNREACHABLE');
    } finally {
      await rm(home, { recursive: true, force: true });
    }
  });
});
