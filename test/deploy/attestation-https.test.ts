/**
 * The attestation service as the simulation overlay runs it, reached the way
 * a client in the cluster reaches it: the real CLI started with the rendered
 * container's arguments (each file path moved from its volume mount into a
 * temp directory; --listen on 127.0.0.1; --store sqlite instead of the
 * Kubernetes API, which is not here), the serving certificate from
 * `kube-sgx webhook certs` (the no-cert-manager path), and the unmodified
 * @azure/attestation clients trusting only that CA, as docs/deploy.md tells
 * clients to.
 */
import 'reflect-metadata';
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader } from 'jose';
import { AttestationAdministrationClient, AttestationClient, KnownAttestationType } from '@azure/attestation';
import { SimPlatform } from '../../src/sim/index.js';
import { runCli } from '../cli/run.js';
import { renderDir, repoRoot } from './render.js';

const tmp = mkdtempSync(join(tmpdir(), 'kube-sgx-deploy-https-'));
let child: ChildProcess | undefined;
let url = '';
let issuer = '';
let ca = '';
let adminToken = '';
let platform: SimPlatform;

before(async () => {
  const objects = renderDir(join(repoRoot, 'deploy', 'overlays', 'simulation'));
  const dep = objects.find((o) => o.kind === 'Deployment' && o.metadata.name === 'kube-sgx-attestation')!;
  const c = (dep.spec as { template: { spec: { containers: { args: string[]; volumeMounts: { name: string; mountPath: string }[] }[] } } }).template.spec.containers[0];
  // Each volume mount becomes a directory of its own; the longest mount path wins.
  const mounts = [...c.volumeMounts].sort((a, b) => b.mountPath.length - a.mountPath.length);
  const local = (path: string) => {
    const m = mounts.find((x) => path === x.mountPath || path.startsWith(x.mountPath + '/'));
    return m ? join(tmp, m.name, path.slice(m.mountPath.length)) : path;
  };
  for (const m of mounts) mkdirSync(join(tmp, m.name), { recursive: true });
  issuer = c.args.find((a) => a.startsWith('--issuer='))!.slice('--issuer='.length);
  const args = c.args.map((a) => {
    const [flag, value] = a.split(/=(.*)/s);
    if (value === undefined) return a;
    if (flag === '--listen') return '--listen=127.0.0.1:0';
    if (flag === '--store') return '--store=sqlite';
    return value.startsWith('/') ? `${flag}=${local(value)}` : a;
  });

  // What the operator creates before install (docs/deploy.md): keys, the TLS pair, the platform.
  adminToken = randomBytes(32).toString('hex');
  writeFileSync(local('/etc/kube-sgx/attestation/kek'), randomBytes(32).toString('base64'));
  writeFileSync(local('/etc/kube-sgx/attestation/admin-token'), adminToken);
  const tlsDir = local('/etc/kube-sgx/tls');
  const certs = await runCli(['webhook', 'certs', '--out', tlsDir, '--ca-dir', join(tmp, 'ca'), '--dns-name', new URL(issuer).hostname, '--ip', '127.0.0.1']);
  assert.equal(certs.status, 0, certs.stdout);
  ca = readFileSync(join(tmp, 'ca', 'ca.crt'), 'utf8');
  const platformArg = args.find((a) => a.startsWith('--platform='))!.slice('--platform='.length);
  platform = await SimPlatform.open(platformArg, { seed: 'deploy-https' });

  child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], { cwd: repoRoot, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  url = await new Promise<string>((resolve, reject) => {
    let out = '';
    child!.on('exit', (code) => reject(new Error(`attestation-service exited ${code}: ${out}${err}`)));
    child!.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      try {
        resolve((JSON.parse(out) as { url: string }).url);
      } catch {
        /* not a whole line yet */
      }
    });
  });
});

after(() => {
  child?.kill('SIGTERM');
  rmSync(tmp, { recursive: true, force: true });
});

describe('attestation service with the simulation overlay\'s arguments, over HTTPS', () => {
  test('serves HTTPS and names the https issuer of the manifest', () => {
    assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(issuer, 'https://kube-sgx-attestation.kube-sgx.svc');
  });

  test('the unmodified AttestationClient, trusting only the kube-sgx CA, attests and validates the token', async () => {
    const client = new AttestationClient(url, { tlsOptions: { ca } });
    const report = platform.ereport({ targetInfo: platform.qeTargetInfo(), reportData: new Uint8Array(64), mrEnclave: Buffer.alloc(32, 0xa1), mrSigner: Buffer.alloc(32, 0x5e), isvProdId: 1, isvSvn: 1 });
    const res = await client.attestSgxEnclave(new Uint8Array(platform.getQuote(report).quote), {
      validationOptions: { validateToken: true, validateExpirationTime: true, validateIssuer: true, expectedIssuer: issuer },
    });
    assert.equal(res.body.issuer, issuer);
    const header = decodeProtectedHeader(res.token.serialize());
    assert.equal(header.jku, `${issuer}/certs`);
  });

  test('the unmodified AttestationAdministrationClient sends the admin bearer token over HTTPS', async () => {
    const credential = { getToken: async () => ({ token: adminToken, expiresOnTimestamp: Date.now() + 60_000 }) };
    const admin = new AttestationAdministrationClient(url, credential, { tlsOptions: { ca } });
    const policy = await admin.getPolicy(KnownAttestationType.SgxEnclave);
    assert.match(policy.body, /version=1\.0/);
  });

  test('a client without the CA is refused by TLS, not served', async () => {
    const client = new AttestationClient(url);
    await assert.rejects(client.getOpenIdMetadata(), (e: Error) => /self[- ]signed|unable to verify|certificate/i.test(e.message));
  });
});
