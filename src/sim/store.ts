/**
 * The platform directory:
 *
 *   platform.json       format version, scenario, FMSPC, PPID, QE ID (written last: the "complete" marker)
 *   root-ca.pem         the simulated root CA (pass it as --root-ca / trustedRoots)
 *   pck-ca.pem  pck.pem  tcb-signing.pem
 *   keys/               0700; root-ca.key pck-ca.key pck.key tcb-signing.key attestation.key (PKCS#8 PEM, 0600)
 *                       report.key (the 16-byte report secret, hex, 0600)
 *   collateral.json     the collateral JSON (re-issued when near expiry)
 *
 * A new platform is written into a sibling temp directory and renamed into
 * place, so a crash never leaves a half-written platform under DIR. Anything
 * missing or unreadable in an existing directory is an error naming the file;
 * nothing is ever regenerated over existing keys.
 */
// @peculiar/x509 needs the Reflect metadata polyfill loaded before it (tsyringe).
import 'reflect-metadata';
import { createPrivateKey, createPublicKey, randomBytes, type KeyObject } from 'node:crypto';
import { chmod, mkdir, readFile, readdir, rename, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as x509 from '@peculiar/x509';
import { z } from 'zod';
import { parseCollateral, serializeCollateral, type Collateral } from '../dcap/collateral.js';
import { KubeSgxError } from '../errors.js';
import { TCB_SCENARIOS } from './identity.js';
import { privateKeyPem } from './keys.js';
import { PLATFORM_FORMAT_VERSION, type PlatformMaterial, type PlatformMeta } from './material.js';
import { certPem } from './pki.js';

export const FILES = {
  meta: 'platform.json',
  rootCert: 'root-ca.pem',
  pckCaCert: 'pck-ca.pem',
  pckCert: 'pck.pem',
  tcbSigningCert: 'tcb-signing.pem',
  rootKey: 'keys/root-ca.key',
  pckCaKey: 'keys/pck-ca.key',
  pckKey: 'keys/pck.key',
  tcbSigningKey: 'keys/tcb-signing.key',
  attestationKey: 'keys/attestation.key',
  reportKey: 'keys/report.key',
  collateral: 'collateral.json',
} as const;

const hex = (n: number) => z.string().regex(new RegExp(`^[0-9a-f]{${n * 2}}$`), `expected ${n * 2} lowercase hex characters`);
const MetaSchema = z.object({
  kind: z.literal('kube-sgx-sim-platform'),
  version: z.number().int(),
  scenario: z.enum(TCB_SCENARIOS as [string, ...string[]]),
  fmspc: z.string().regex(/^[0-9A-F]{12}$/),
  pceId: z.string().regex(/^[0-9A-F]{4}$/),
  createdAt: z.string(),
  seedFingerprint: z.string().optional(),
  ppid: hex(16),
  qeId: hex(16),
  reportKeyId: hex(32),
});

function corrupt(file: string, message: string, cause?: unknown): never {
  throw new KubeSgxError('SIM_PLATFORM_CORRUPT', `${file}: ${message}`, { path: [file], details: { file }, ...(cause !== undefined ? { cause } : {}) });
}

async function readText(dir: string, name: string): Promise<string> {
  const file = join(dir, name);
  try {
    return await readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new KubeSgxError('SIM_PLATFORM_INCOMPLETE', `${file}: missing; the platform directory is incomplete (half-written or edited). Refusing to regenerate over existing keys: restore the file or remove the directory`, {
        path: [file],
        details: { file },
      });
    }
    return corrupt(file, `cannot read (${(e as Error).message})`, e);
  }
}

/** Does `dir` hold nothing (or not exist)? */
export async function isEmptyOrMissing(dir: string): Promise<boolean> {
  let st;
  try {
    st = await stat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw new KubeSgxError('SIM_PLATFORM_CORRUPT', `${dir}: ${(e as Error).message}`, { path: [dir], cause: e });
  }
  if (!st.isDirectory()) corrupt(dir, 'not a directory');
  return (await readdir(dir)).length === 0;
}

function parseKey(file: string, pem: string): KeyObject {
  try {
    const k = createPrivateKey(pem);
    if (k.asymmetricKeyType !== 'ec' || k.asymmetricKeyDetails?.namedCurve !== 'prime256v1') corrupt(file, 'not a P-256 private key');
    return k;
  } catch (e) {
    if (e instanceof KubeSgxError) throw e;
    return corrupt(file, 'not a PEM private key', e);
  }
}

function parseCert(file: string, pem: string, key: KeyObject): x509.X509Certificate {
  let cert: x509.X509Certificate;
  try {
    cert = new x509.X509Certificate(pem);
  } catch (e) {
    return corrupt(file, 'not a PEM certificate', e);
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  if (!Buffer.from(cert.publicKey.rawData).equals(spki)) corrupt(file, 'the certificate does not match its private key in keys/');
  return cert;
}

/** Loads a complete platform directory; every failure names the file. */
export async function loadPlatform(dir: string): Promise<{ material: PlatformMaterial; collateral: Collateral }> {
  const metaFile = join(dir, FILES.meta);
  const metaText = await readText(dir, FILES.meta);
  let metaJson: unknown;
  try {
    metaJson = JSON.parse(metaText);
  } catch (e) {
    corrupt(metaFile, 'not JSON', e);
  }
  const r = MetaSchema.safeParse(metaJson);
  if (!r.success) corrupt(metaFile, `${r.error.issues[0].path.join('.') || '(root)'}: ${r.error.issues[0].message}`);
  const meta = r.data as PlatformMeta;
  if (meta.version === 1) {
    corrupt(metaFile, `format version 1 (an older kube-sgx): its certificates lack the CRL Distribution Points Intel's QVL and the verifier require; remove the directory to create a version ${PLATFORM_FORMAT_VERSION} platform`);
  }
  if (meta.version !== PLATFORM_FORMAT_VERSION) corrupt(metaFile, `format version ${meta.version} is not supported (expected ${PLATFORM_FORMAT_VERSION})`);

  const key = async (name: string) => parseKey(join(dir, name), await readText(dir, name));
  const keys = {
    root: await key(FILES.rootKey),
    pckCa: await key(FILES.pckCaKey),
    pck: await key(FILES.pckKey),
    tcbSigning: await key(FILES.tcbSigningKey),
    attestation: await key(FILES.attestationKey),
  };
  const cert = async (name: string, k: KeyObject) => parseCert(join(dir, name), await readText(dir, name), k);
  const certs = {
    root: await cert(FILES.rootCert, keys.root),
    pckCa: await cert(FILES.pckCaCert, keys.pckCa),
    pck: await cert(FILES.pckCert, keys.pck),
    tcbSigning: await cert(FILES.tcbSigningCert, keys.tcbSigning),
  };
  const reportText = (await readText(dir, FILES.reportKey)).trim();
  if (!/^[0-9a-f]{32}$/.test(reportText)) corrupt(join(dir, FILES.reportKey), 'expected 32 lowercase hex characters (16-byte report secret)');

  const colFile = join(dir, FILES.collateral);
  const colText = await readText(dir, FILES.collateral);
  let collateral: Collateral;
  try {
    collateral = parseCollateral(colText);
  } catch (e) {
    return corrupt(colFile, e instanceof Error ? e.message : String(e), e);
  }
  return { material: { meta, keys, certs, reportSecret: Buffer.from(reportText, 'hex') }, collateral };
}

async function writeSecret(file: string, text: string): Promise<void> {
  await writeFile(file, text, { mode: 0o600 });
  await chmod(file, 0o600);
}

/** Writes `text` to `file` atomically (temp file + rename). */
export async function writeAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  const tmp = `${file}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await writeFile(tmp, text, { mode });
  await rename(tmp, file);
}

export async function saveCollateral(dir: string, collateral: Collateral): Promise<void> {
  await writeAtomic(join(dir, FILES.collateral), serializeCollateral(collateral));
}

/**
 * Writes a new platform to a temp sibling of `dir` and renames it into place.
 * Returns false when another process created `dir` first (then load that one).
 */
export async function createPlatformDir(dir: string, m: PlatformMaterial, collateral: Collateral): Promise<boolean> {
  await mkdir(dirname(dir), { recursive: true });
  const tmp = join(dirname(dir), `.${basename(dir)}.creating-${process.pid}-${randomBytes(4).toString('hex')}`);
  await mkdir(join(tmp, 'keys'), { recursive: true, mode: 0o700 });
  try {
    await chmod(join(tmp, 'keys'), 0o700);
    await writeSecret(join(tmp, FILES.rootKey), privateKeyPem(m.keys.root));
    await writeSecret(join(tmp, FILES.pckCaKey), privateKeyPem(m.keys.pckCa));
    await writeSecret(join(tmp, FILES.pckKey), privateKeyPem(m.keys.pck));
    await writeSecret(join(tmp, FILES.tcbSigningKey), privateKeyPem(m.keys.tcbSigning));
    await writeSecret(join(tmp, FILES.attestationKey), privateKeyPem(m.keys.attestation));
    await writeSecret(join(tmp, FILES.reportKey), m.reportSecret.toString('hex') + '\n');
    await writeFile(join(tmp, FILES.rootCert), certPem(m.certs.root));
    await writeFile(join(tmp, FILES.pckCaCert), certPem(m.certs.pckCa));
    await writeFile(join(tmp, FILES.pckCert), certPem(m.certs.pck));
    await writeFile(join(tmp, FILES.tcbSigningCert), certPem(m.certs.tcbSigning));
    await writeFile(join(tmp, FILES.collateral), serializeCollateral(collateral));
    await writeFile(join(tmp, FILES.meta), JSON.stringify(m.meta, null, 2) + '\n');
    try {
      await rmdir(dir); // an existing empty directory is replaced; a non-empty one makes rmdir fail
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    await rename(tmp, dir);
    return true;
  } catch (e) {
    await rm(tmp, { recursive: true, force: true });
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw new KubeSgxError('SIM_PLATFORM_WRITE_FAILED', `${dir}: cannot create the platform (${(e as Error).message})`, { path: [dir], cause: e });
  }
}
