/**
 * The hardware overlays as the pods receive them: the QCNL configuration in
 * the quote helper (and, on intel, the attestation service), the collateral
 * source each uses, one PCCS setting for both, and what the real CLI says at
 * start when that setting is missing or the file cannot be read. No SGX here:
 * the quote helper is started only as far as its start-up checks go.
 */
import 'reflect-metadata';
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderDir, repoRoot, kustomizeYaml, type K8sObject } from './render.js';
import { parseQcnlConfig, qcnlCollateralSource } from '../../src/dcap/qcnl.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { runCli, cliError } from '../cli/run.js';

const deployDir = join(repoRoot, 'deploy');
const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-hw-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

type Container = { name: string; image: string; args: string[]; volumeMounts?: { name: string; mountPath: string; subPath?: string }[] };
type PodSpec = { containers: Container[]; volumes: { name: string; configMap?: { name: string } }[] };
const podSpec = (o: K8sObject) => (o.spec as { template: { spec: PodSpec } }).template.spec;
const find = (objects: K8sObject[], kind: string, name: string) => objects.find((o) => o.kind === kind && o.metadata.name === name)!;

/** The file a container sees at `path`, from the ConfigMap volume mounted there. */
function configFileAt(objects: K8sObject[], owner: K8sObject, path: string): string {
  const spec = podSpec(owner);
  const c = spec.containers[0];
  const m = (c.volumeMounts ?? []).find((x) => path === x.mountPath || path.startsWith(x.mountPath + '/'));
  assert.ok(m, `${path} is mounted in ${owner.metadata.name}`);
  const cmName = spec.volumes.find((v) => v.name === m.name)?.configMap?.name;
  assert.ok(cmName, `${path} comes from a ConfigMap`);
  const key = m.subPath ?? path.slice(m.mountPath.length + 1);
  const data = (find(objects, 'ConfigMap', cmName).data as Record<string, string>)[key];
  assert.ok(data !== undefined, `ConfigMap ${cmName} has ${key}`);
  return data;
}
const flag = (c: Container, name: string) => c.args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);

const errorOf = cliError;

describe('hardware overlays: image, quote provider configuration, collateral', () => {
  for (const overlay of ['aks', 'intel']) {
    test(`${overlay}: the hardware image, the dcap backend and a QCNL configuration the quote helper checks`, () => {
      const objects = renderDir(join(deployDir, 'overlays', overlay));
      const qh = find(objects, 'DaemonSet', 'kube-sgx-quote-helper');
      const c = podSpec(qh).containers[0];
      assert.match(c.image, /:0\.1\.0-dcap$/);
      assert.ok(c.args.includes('--backend=dcap'));
      const qcnlPath = flag(c, '--qcnl-config');
      assert.equal(qcnlPath, '/etc/sgx_default_qcnl.conf', 'where every DCAP release looks, and QCNL_CONF_PATH from the flag');
      parseQcnlConfig(configFileAt(objects, qh, qcnlPath), qcnlPath);
      // the QCNL's PCK certificate cache goes to a writable volume, not the read-only root filesystem
      const env = (c as unknown as { env?: { name: string; value: string }[] }).env ?? [];
      const cacheDir = env.find((e) => e.name === 'XDG_CACHE_HOME')?.value;
      assert.equal(cacheDir, '/tmp');
      const tmpMount = (c.volumeMounts ?? []).find((m) => m.mountPath === cacheDir);
      assert.ok(tmpMount && podSpec(qh).volumes.some((v) => v.name === tmpMount.name && 'emptyDir' in v), 'an emptyDir at the cache directory');
    });
  }

  test('no overlay points anywhere at a PCCS that nothing deploys', () => {
    for (const overlay of ['aks', 'intel', 'simulation']) assert.doesNotMatch(kustomizeYaml(join(deployDir, 'overlays', overlay)), /pccs\.kube-sgx\.svc/, overlay);
  });

  test('aks: PCK certificates from THIM (node-local, then the global cache) as Intel\'s Azure sample; the service uses --thim on the same cache', async () => {
    const objects = renderDir(join(deployDir, 'overlays', 'aks'));
    const qh = find(objects, 'DaemonSet', 'kube-sgx-quote-helper');
    const cfg = parseQcnlConfig(configFileAt(objects, qh, '/etc/sgx_default_qcnl.conf'), 'aks');
    assert.equal(cfg.pccsUrl, 'https://global.acccache.azure.net/sgx/certification/v4/');
    assert.equal(cfg.localPckUrl, 'http://169.254.169.254/metadata/THIM/sgx/certification/v4/');
    assert.equal(cfg.useSecureCert, true);
    const svc = podSpec(find(objects, 'Deployment', 'kube-sgx-attestation')).containers[0];
    const thim = flag(svc, '--thim');
    // the very URL the quote provider uses, v4 collateral as current Azure DCAP clients fetch it
    assert.equal(thim, cfg.pccsUrl);
    const { verifier } = await createDcapVerifier({ simulation: false, thimUrl: thim });
    assert.equal((await verifier.describe()).source, `Azure THIM ${thim}`);
  });

  test('intel: one file sets the PCCS for the quote helper and the service; unset, both refuse to start naming it', async () => {
    const objects = renderDir(join(deployDir, 'overlays', 'intel'));
    const qh = find(objects, 'DaemonSet', 'kube-sgx-quote-helper');
    const svc = find(objects, 'Deployment', 'kube-sgx-attestation');
    const svcPath = flag(podSpec(svc).containers[0], '--qcnl-config')!;
    const shipped = configFileAt(objects, qh, '/etc/sgx_default_qcnl.conf');
    assert.equal(configFileAt(objects, svc, svcPath), shipped, 'the same ConfigMap');

    // As shipped (pccs_url empty), the real CLIs stop at start with the named error.
    const file = join(tmp, 'shipped.conf');
    writeFileSync(file, shipped);
    const helper = await runCli(['quote-helper', '--backend', 'dcap', '--socket', join(tmp, 'aesm.socket'), '--qcnl-config', file]);
    assert.equal(helper.status, 1);
    assert.equal(errorOf(helper.stdout)?.code, 'QCNL_PCCS_URL_MISSING');
    assert.match(errorOf(helper.stdout)?.message ?? '', /sgx_default_qcnl\.conf/);
    const service = await runCli(['attestation-service', '--listen', '127.0.0.1:0', '--qcnl-config', file]);
    assert.equal(service.status, 1);
    assert.equal(errorOf(service.stdout)?.code, 'QCNL_PCCS_URL_MISSING');

    // The operator sets pccs_url once, in deploy/components/intel/sgx_default_qcnl.conf.
    const copy = join(tmp, 'deploy');
    cpSync(deployDir, copy, { recursive: true });
    const conf = join(copy, 'components', 'intel', 'sgx_default_qcnl.conf');
    writeFileSync(conf, readFileSync(conf, 'utf8').replace('"pccs_url": ""', '"pccs_url": "https://pccs.example.com:8081/sgx/certification/v4/"'));
    const edited = renderDir(join(copy, 'overlays', 'intel'));
    const forHelper = parseQcnlConfig(configFileAt(edited, find(edited, 'DaemonSet', 'kube-sgx-quote-helper'), '/etc/sgx_default_qcnl.conf'), 'helper');
    const forService = configFileAt(edited, find(edited, 'Deployment', 'kube-sgx-attestation'), svcPath);
    assert.equal(forHelper.pccsUrl, 'https://pccs.example.com:8081/sgx/certification/v4/');
    assert.deepEqual(qcnlCollateralSource(parseQcnlConfig(forService, 'service')), { kind: 'pccs', baseUrl: 'https://pccs.example.com:8081', insecureTls: false });
    const svcFile = join(tmp, 'service.conf');
    writeFileSync(svcFile, forService);
    const { verifier } = await createDcapVerifier({ simulation: false, qcnlConfigFile: svcFile });
    assert.equal((await verifier.describe()).source, `PCCS https://pccs.example.com:8081 (from ${svcFile})`);

    // With a PCCS set, the quote helper passes its configuration check and stops at the next
    // missing piece on this machine (no SGX device), not at the configuration.
    writeFileSync(join(tmp, 'set.conf'), configFileAt(edited, find(edited, 'DaemonSet', 'kube-sgx-quote-helper'), '/etc/sgx_default_qcnl.conf'));
    const next = await runCli(['quote-helper', '--backend', 'dcap', '--socket', join(tmp, 'aesm2.socket'), '--dev-root', tmp, '--qcnl-config', join(tmp, 'set.conf')]);
    assert.equal(next.status, 1);
    assert.equal(errorOf(next.stdout)?.code, 'DCAP_NO_SGX_DEVICE');
  });

  test('an unreadable QCNL configuration stops the quote helper and the service at start', async () => {
    const missing = join(tmp, 'no-such.conf');
    for (const args of [['quote-helper', '--backend', 'dcap', '--socket', join(tmp, 'aesm3.socket')], ['attestation-service', '--listen', '127.0.0.1:0']]) {
      const r = await runCli([...args, '--qcnl-config', missing]);
      assert.equal(r.status, 1, r.stdout);
      assert.equal(errorOf(r.stdout)?.code, 'QCNL_CONFIG_UNREADABLE', args[0]);
    }
  });

  test('an operator overlay on top of intel replaces the QCNL file with a generator of its own', () => {
    cpSync(deployDir, join(tmp, 'repo-deploy'), { recursive: true });
    const overlay = join(tmp, 'repo-deploy', 'overlays', 'mine');
    cpSync(join(deployDir, 'overlays', 'intel'), overlay, { recursive: true });
    writeFileSync(join(overlay, 'kustomization.yaml'), `apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources: [../intel]
configMapGenerator:
  - name: kube-sgx-qcnl
    namespace: kube-sgx
    behavior: replace
    files: [sgx_default_qcnl.conf]
`);
    writeFileSync(join(overlay, 'sgx_default_qcnl.conf'), '{ "pccs_url": "https://pccs.internal:8081/sgx/certification/v4/", "use_secure_cert": false }\n');
    const objects = renderDir(overlay);
    const qh = find(objects, 'DaemonSet', 'kube-sgx-quote-helper');
    const svc = find(objects, 'Deployment', 'kube-sgx-attestation');
    assert.equal(parseQcnlConfig(configFileAt(objects, qh, '/etc/sgx_default_qcnl.conf'), 'qh').pccsUrl, 'https://pccs.internal:8081/sgx/certification/v4/');
    assert.equal(configFileAt(objects, svc, '/etc/kube-sgx/qcnl/sgx_default_qcnl.conf'), configFileAt(objects, qh, '/etc/sgx_default_qcnl.conf'));
  });
});
