/**
 * A CA and a serving certificate for the webhook, for clusters without
 * cert-manager (`kube-sgx webhook certs`). WebCrypto keys (ECDSA P-256 by
 * default, RSA-2048 on request) and @peculiar/x509 for the certificates.
 * The API server checks the serving certificate's SANs against the Service
 * DNS name (`<svc>.<ns>.svc`), so every name must be passed as --dns-name.
 */
import { createPrivateKey, webcrypto, X509Certificate as NodeX509, type KeyObject } from 'node:crypto';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
// @peculiar/x509 needs a Reflect metadata polyfill loaded before it (tsyringe).
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { KubeSgxError } from '../errors.js';

export type WebhookKeyType = 'p256' | 'rsa';

/** A CA to sign with instead of making a new one (`kube-sgx webhook certs` reusing ca.crt / ca.key). */
export interface ExistingCa {
  certPem: string;
  keyPem: string;
}

export interface WebhookCertOptions {
  dnsNames: string[];
  /** Sign with this CA; the bundle's caCertPem / caKeyPem are then this CA's. */
  ca?: ExistingCa;
  ipAddresses?: string[];
  keyType?: WebhookKeyType;
  /** Serving certificate lifetime, days (default 365). */
  days?: number;
  /** CA lifetime, days (default 3650). */
  caDays?: number;
  now?: Date;
}

export interface WebhookCertBundle {
  caCertPem: string;
  caKeyPem: string;
  certPem: string;
  keyPem: string;
}

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;
/** Node's WebCrypto, typed as the provider @peculiar/x509 expects. */
const crypto = webcrypto as unknown as NonNullable<Parameters<typeof x509.X509CertificateGenerator.create>[1]>;
const subtle = webcrypto.subtle;

function algorithms(keyType: WebhookKeyType): { gen: webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams; sign: webcrypto.Algorithm | webcrypto.EcdsaParams } {
  return keyType === 'rsa'
    ? { gen: { name: 'RSASSA-PKCS1-v1_5', modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, sign: { name: 'RSASSA-PKCS1-v1_5' } }
    : { gen: { name: 'ECDSA', namedCurve: 'P-256' }, sign: { name: 'ECDSA', hash: 'SHA-256' } as webcrypto.EcdsaParams };
}

const DNS_NAME = /^(\*\.)?[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$/i;

async function pkcs8Pem(key: CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

function serial(): string {
  const b = webcrypto.getRandomValues(new Uint8Array(16));
  b[0] = b[0]! & 0x7f; // positive
  return Buffer.from(b).toString('hex');
}

export async function generateWebhookCertificates(opts: WebhookCertOptions): Promise<WebhookCertBundle> {
  if (opts.dnsNames.length === 0) throw new KubeSgxError('WEBHOOK_CERT_NO_NAMES', 'at least one --dns-name is required (e.g. kube-sgx-webhook.kube-sgx.svc)');
  for (const [i, n] of opts.dnsNames.entries()) {
    if (!DNS_NAME.test(n) || n.length > 253) {
      throw new KubeSgxError('WEBHOOK_CERT_BAD_NAME', `--dns-name ${JSON.stringify(n)} is not a DNS name`, { path: ['dnsNames', i] });
    }
  }
  const now = opts.now ?? new Date();
  const { gen, sign } = algorithms(opts.keyType ?? 'p256');
  const usages: webcrypto.KeyUsage[] = ['sign', 'verify'];
  const leafKeys = (await subtle.generateKey(gen, true, usages)) as CryptoKeyPair;
  const notBefore = new Date(now.getTime() - 5 * 60_000); // tolerate small clock skew
  const days = (n: number) => new Date(now.getTime() + n * 86_400_000);

  const existing = opts.ca ? await importCa(opts.ca, now) : undefined;
  const caKeys = existing?.keys ?? ((await subtle.generateKey(gen, true, usages)) as CryptoKeyPair);
  const caSign = existing?.sign ?? sign;
  const ca = existing?.cert ?? await x509.X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial(),
      name: 'CN=kube-sgx webhook CA',
      notBefore,
      notAfter: days(opts.caDays ?? 3650),
      keys: caKeys,
      signingAlgorithm: sign,
      extensions: [
        new x509.BasicConstraintsExtension(true, 0, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
        await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  const names: x509.JsonGeneralName[] = [
    ...opts.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(opts.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const leaf = await x509.X509CertificateGenerator.create(
    {
      serialNumber: serial(),
      subject: `CN=${opts.dnsNames[0]}`,
      issuer: ca.subject,
      notBefore,
      notAfter: days(opts.days ?? 365),
      publicKey: leafKeys.publicKey,
      signingKey: caKeys.privateKey,
      signingAlgorithm: caSign,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
        new x509.SubjectAlternativeNameExtension(names),
        await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey, false, crypto),
        await x509.SubjectKeyIdentifierExtension.create(leafKeys.publicKey, false, crypto),
      ],
    },
    crypto,
  );
  return {
    caCertPem: existing ? opts.ca!.certPem : ca.toString('pem') + '\n',
    caKeyPem: existing ? opts.ca!.keyPem : (await pkcs8Pem(caKeys.privateKey)) + '\n',
    certPem: leaf.toString('pem') + '\n',
    keyPem: (await pkcs8Pem(leafKeys.privateKey)) + '\n',
  };
}

/** Parses and checks a CA to sign with: a CA certificate, unexpired, whose key is `keyPem`. */
async function importCa(ca: ExistingCa, now: Date): Promise<{ cert: x509.X509Certificate; keys: CryptoKeyPair; sign: webcrypto.Algorithm | webcrypto.EcdsaParams }> {
  const bad = (message: string, cause?: unknown) => new KubeSgxError('WEBHOOK_CA_INVALID', message, cause === undefined ? {} : { cause });
  const [node] = parsePemCertificates(ca.certPem);
  if (!node) throw bad('ca.crt holds no PEM certificate');
  if (!node.ca) throw bad(`ca.crt (${node.subject}) is not a CA certificate`);
  if (new Date(node.validTo).getTime() <= now.getTime()) throw bad(`ca.crt (${node.subject}) expired on ${node.validTo}: make a new CA with --force`);
  let privateKey: KeyObject;
  try {
    privateKey = createPrivateKey(ca.keyPem);
  } catch (e) {
    throw bad(`ca.key is not a PEM private key: ${(e as Error).message}`, e);
  }
  if (!node.checkPrivateKey(privateKey)) throw bad('ca.key is not the key of ca.crt');
  const rsa = privateKey.asymmetricKeyType === 'rsa';
  if (!rsa && !(privateKey.asymmetricKeyType === 'ec' && privateKey.asymmetricKeyDetails?.namedCurve === 'prime256v1')) {
    throw bad(`ca.key is ${privateKey.asymmetricKeyType ?? 'an unknown key type'}; kube-sgx signs with P-256 or RSA CAs`);
  }
  const { sign } = algorithms(rsa ? 'rsa' : 'p256');
  const importAlg = rsa ? { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' } : { name: 'ECDSA', namedCurve: 'P-256' };
  const keys: CryptoKeyPair = {
    privateKey: await subtle.importKey('pkcs8', privateKey.export({ type: 'pkcs8', format: 'der' }), importAlg, false, ['sign']),
    publicKey: await subtle.importKey('spki', node.publicKey.export({ type: 'spki', format: 'der' }), importAlg, true, ['verify']),
  };
  return { cert: new x509.X509Certificate(node.raw), keys, sign };
}

export interface WebhookCaFiles {
  caCert: string;
  caKey: string;
}

export function webhookCaFiles(dir: string): WebhookCaFiles {
  return { caCert: join(dir, 'ca.crt'), caKey: join(dir, 'ca.key') };
}

/**
 * The CA in `dir` (ca.crt + ca.key) if there is one. Both or neither: one
 * without the other is refused (WEBHOOK_CA_INCOMPLETE) rather than replaced.
 */
export async function readWebhookCa(dir: string): Promise<ExistingCa | undefined> {
  const files = webhookCaFiles(dir);
  const read = async (f: string) => {
    try {
      return await readFile(f, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new KubeSgxError('WEBHOOK_CA_INVALID', `cannot read ${f}: ${(e as Error).message}`, { cause: e });
    }
  };
  const [certPem, keyPem] = [await read(files.caCert), await read(files.caKey)];
  if (certPem === undefined && keyPem === undefined) return undefined;
  if (certPem === undefined || keyPem === undefined) {
    throw new KubeSgxError('WEBHOOK_CA_INCOMPLETE', `${certPem === undefined ? files.caCert : files.caKey} is missing but ${certPem === undefined ? files.caKey : files.caCert} exists: restore it, or make a new CA with --force (then re-apply the webhook manifests)`);
  }
  return { certPem, keyPem };
}

/**
 * Before a forced new CA: renames ca.crt / ca.key in `dir` to ca.previous.crt /
 * ca.previous.key (so the caBundle can hold both while clients switch).
 * Returns the renamed files, or undefined when there was no CA.
 */
export async function keepPreviousWebhookCa(dir: string): Promise<WebhookCaFiles | undefined> {
  const files = webhookCaFiles(dir);
  const previous = { caCert: join(dir, 'ca.previous.crt'), caKey: join(dir, 'ca.previous.key') };
  let moved = false;
  for (const k of ['caCert', 'caKey'] as const) {
    try {
      await rename(files[k], previous[k]);
      moved = true;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new KubeSgxError('WEBHOOK_CA_INVALID', `cannot move ${files[k]} aside: ${(e as Error).message}`, { cause: e });
    }
  }
  return moved ? previous : undefined;
}

/**
 * Writes ca.crt and ca.key to `caDir` (default `dir`) and tls.crt, tls.key to
 * `dir` (the names cert-manager uses in its Secrets); keys are 0600.
 */
export async function writeWebhookCertificates(dir: string, bundle: WebhookCertBundle, caDir = dir): Promise<Record<string, string>> {
  await mkdir(dir, { recursive: true });
  await mkdir(caDir, { recursive: true });
  const files = {
    ...webhookCaFiles(caDir),
    cert: join(dir, 'tls.crt'),
    key: join(dir, 'tls.key'),
  };
  await writeFile(files.caCert, bundle.caCertPem);
  await writeFile(files.caKey, bundle.caKeyPem, { mode: 0o600 });
  await writeFile(files.cert, bundle.certPem);
  await writeFile(files.key, bundle.keyPem, { mode: 0o600 });
  return files;
}

/** Every certificate in a PEM bundle (a caBundle may hold several during CA rotation). */
export function parsePemCertificates(pem: string): NodeX509[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  const out: NodeX509[] = [];
  for (const b of blocks) {
    try {
      out.push(new NodeX509(b));
    } catch (e) {
      throw new KubeSgxError('WEBHOOK_CERT_INVALID', `a certificate in the bundle does not parse: ${(e as Error).message}`, { cause: e });
    }
  }
  return out;
}
