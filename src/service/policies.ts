/**
 * Attestation policies per attestation type, versioned in the store. The
 * text in force is parsed once and cached; `x-ms-policy-hash` (MAA's hash of
 * the text) and `x-kube-sgx-policy-version` tell a relying party exactly
 * which policy applied. Uploads arrive as MAA's JWS
 * (`{"AttestationPolicy": b64url(text)}`, `alg` none or RS256/ES256 with
 * x5c); a signed upload must verify against its own certificate.
 */
import { createHash, X509Certificate, verify as cryptoVerify } from 'node:crypto';
import { KubeSgxError } from '../errors.js';
import { decodeBase64 } from '../encoding.js';
import { DEFAULT_SGX_POLICY, DEFAULT_TDX_POLICY, parsePolicy, policyHash, type Policy } from './policy/index.js';
import type { Store, StoredPolicyVersion } from './store/types.js';

export const ATTESTATION_TYPES = ['SgxEnclave', 'OpenEnclave', 'TdxVm'] as const;
export type AttestationType = (typeof ATTESTATION_TYPES)[number];

export function asAttestationType(s: string): AttestationType {
  const t = ATTESTATION_TYPES.find((x) => x.toLowerCase() === s.toLowerCase());
  if (!t) throw new KubeSgxError('NOT_FOUND', `attestation type ${JSON.stringify(s)} is not supported (${ATTESTATION_TYPES.join(', ')})`, { path: ['attestationType'] });
  return t;
}

export interface ActivePolicy {
  text: string;
  parsed: Policy;
  hash: string;
  /** 0 = the built-in default (never set, or reset). */
  version: number;
  isDefault: boolean;
}

/** The built-in policy of an attestation type (in force until one is set, and after a reset). */
export function defaultPolicyText(type: AttestationType): string {
  return type === 'TdxVm' ? DEFAULT_TDX_POLICY : DEFAULT_SGX_POLICY;
}

function compile(type: AttestationType, text: string | null, version: number): ActivePolicy {
  const t = text ?? defaultPolicyText(type);
  return { text: t, parsed: parsePolicy(t), hash: policyHash(t), version, isDefault: text === null };
}

export class PolicyService {
  private cache = new Map<AttestationType, { policy: ActivePolicy; loadedAt: number }>();

  /** `refreshMs`: how long a cached policy is trusted before re-reading (replicas see each other's changes). */
  constructor(
    private readonly store: Store,
    private readonly refreshMs: number,
  ) {}

  async active(type: AttestationType): Promise<ActivePolicy> {
    const c = this.cache.get(type);
    if (c && Date.now() - c.loadedAt < this.refreshMs) return c.policy;
    const cur = await this.store.currentPolicy(type);
    const policy = compile(type, cur?.text ?? null, cur?.version ?? 0);
    this.cache.set(type, { policy, loadedAt: Date.now() });
    return policy;
  }

  /** Validates (parse errors carry line/column) and stores a new version. */
  async set(type: AttestationType, text: string): Promise<ActivePolicy> {
    parsePolicy(text);
    const v = await this.store.appendPolicy(type, text, Date.now());
    return this.remember(type, v);
  }

  async reset(type: AttestationType): Promise<ActivePolicy> {
    const v = await this.store.appendPolicy(type, null, Date.now());
    return this.remember(type, v);
  }

  async versions(type: AttestationType): Promise<Array<{ version: number; hash: string; isDefault: boolean; createdAt: string }>> {
    const list = await this.store.listPolicyVersions(type);
    return list.map((v) => ({
      version: v.version,
      hash: policyHash(v.text ?? defaultPolicyText(type)),
      isDefault: v.text === null,
      createdAt: new Date(v.createdAt).toISOString(),
    }));
  }

  private remember(type: AttestationType, v: StoredPolicyVersion): ActivePolicy {
    const policy = compile(type, v.text, v.version);
    this.cache.set(type, { policy, loadedAt: Date.now() });
    return policy;
  }
}

export interface PolicyUpload {
  /** Policy text, or undefined for a reset (empty payload). */
  text: string | undefined;
  /** The exact JWS string received (hashed into x-ms-policy-token-hash). */
  jws: string;
  /** JWK (+x5c) of the signer, when the upload was signed. */
  signer?: { kty: string; x5c: string[] };
}

function decodeJsonSegment(seg: string, what: string): unknown {
  try {
    return JSON.parse(Buffer.from(decodeBase64(seg, what)).toString('utf8'));
  } catch (e) {
    if (e instanceof KubeSgxError) throw new KubeSgxError('POLICY_INVALID_JWS', `${what} is not base64url`, { cause: e });
    throw new KubeSgxError('POLICY_INVALID_JWS', `${what} is not JSON`, { cause: e });
  }
}

/**
 * MAA's trust models for policy changes. "AAD": the admin bearer token
 * authorises them and unsigned policies are accepted. "Isolated": each change
 * must also be a JWS signed by one of the registered policy-management
 * certificates (`--policy-signers`), so a stolen admin token alone cannot
 * change what the service permits.
 */
export type PolicyTrust = { model: 'AAD' } | { model: 'Isolated'; signers: X509Certificate[] };

/** Reads a PEM bundle of policy-management certificates (`--policy-signers`); at least one. */
export function parsePolicySigners(pem: string, source: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new KubeSgxError('CONFIG_INVALID', `${source} holds no PEM certificate: Isolated mode needs at least one policy signer`);
  return blocks.map((b, i) => {
    try {
      return new X509Certificate(b);
    } catch (e) {
      throw new KubeSgxError('CONFIG_INVALID', `${source}: certificate ${i + 1} cannot be read: ${(e as Error).message}`, { cause: e });
    }
  });
}

/**
 * Reads a policy upload: MAA's JWS (optionally JSON-quoted), or plain policy
 * text as the portal accepts. Under the AAD model `alg: none` and plain text
 * are accepted (the admin bearer token authorised the call); under Isolated
 * only a JWS whose x5c[0] is a registered signer and whose signature verifies.
 */
export function readPolicyUpload(body: string, expectPayload: boolean, trust: PolicyTrust = { model: 'AAD' }): PolicyUpload {
  const upload = readPolicyJws(body, expectPayload);
  if (trust.model === 'Isolated') {
    const der = upload.signer ? Buffer.from(upload.signer.x5c[0]!, 'base64') : undefined;
    if (!der) throw new KubeSgxError('POLICY_SIGNER_UNTRUSTED', 'this service uses the Isolated trust model: policy changes must be a JWS signed (RS256 or ES256, certificate in x5c) by a registered policy signer');
    if (!trust.signers.some((c) => c.raw.equals(der))) {
      throw new KubeSgxError('POLICY_SIGNER_UNTRUSTED', 'the policy JWS is signed by a certificate that is not a registered policy signer (--policy-signers)');
    }
  }
  return upload;
}

/**
 * The JWS `alg` must name the certificate's key type (RFC 7518 §3.1): RS256 an
 * RSA key, ES256 a P-256 key. Otherwise node would verify an "ES256" header
 * as an RSA signature, and throw on key types it cannot use with SHA-256.
 */
function assertAlgFitsKey(alg: 'RS256' | 'ES256', cert: X509Certificate): void {
  const key = cert.publicKey;
  const fits = alg === 'RS256' ? key.asymmetricKeyType === 'rsa' : key.asymmetricKeyType === 'ec' && key.asymmetricKeyDetails?.namedCurve === 'prime256v1';
  if (!fits) {
    const has = `${key.asymmetricKeyType ?? 'unknown'}${key.asymmetricKeyDetails?.namedCurve ? ` ${key.asymmetricKeyDetails.namedCurve}` : ''}`;
    throw new KubeSgxError('POLICY_INVALID_JWS', `JWS alg ${alg} needs ${alg === 'RS256' ? 'an RSA' : 'a P-256 EC'} certificate key; x5c[0] holds a key of type ${has}`, { path: ['alg'] });
  }
}

function readPolicyJws(body: string, expectPayload: boolean): PolicyUpload {
  let raw = body.trim();
  if (raw.startsWith('"') && raw.endsWith('"')) {
    try {
      raw = String(JSON.parse(raw));
    } catch {
      /* fall through: not a JSON string */
    }
  }
  if (expectPayload && /^version\s*=/i.test(raw)) return { text: raw, jws: raw };
  const parts = raw.split('.');
  if (parts.length !== 3) throw new KubeSgxError('POLICY_INVALID_JWS', 'the body must be a JWS (header.payload.signature) or policy text starting with "version="');
  const header = decodeJsonSegment(parts[0]!, 'JWS header') as Record<string, unknown> | null;
  if (typeof header !== 'object' || header === null) throw new KubeSgxError('POLICY_INVALID_JWS', 'JWS header must be an object');
  const alg = header.alg;
  let signer: PolicyUpload['signer'];
  if (alg === 'RS256' || alg === 'ES256') {
    const x5c = header.x5c;
    if (!Array.isArray(x5c) || typeof x5c[0] !== 'string') throw new KubeSgxError('POLICY_INVALID_JWS', `a ${alg} policy JWS needs the signing certificate in x5c`);
    let cert: X509Certificate;
    try {
      cert = new X509Certificate(Buffer.from(x5c[0], 'base64'));
    } catch (e) {
      throw new KubeSgxError('POLICY_INVALID_JWS', 'x5c[0] is not a base64 DER certificate', { cause: e });
    }
    assertAlgFitsKey(alg, cert);
    const sig = Buffer.from(decodeBase64(parts[2], 'JWS signature'));
    let ok: boolean;
    try {
      ok = cryptoVerify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`), alg === 'ES256' ? { key: cert.publicKey, dsaEncoding: 'ieee-p1363' } : cert.publicKey, sig);
    } catch (e) {
      throw new KubeSgxError('POLICY_INVALID_JWS', `the policy JWS signature cannot be checked with its x5c certificate: ${(e as Error).message}`, { cause: e });
    }
    if (!ok) throw new KubeSgxError('POLICY_INVALID_JWS', 'the policy JWS signature does not verify with its x5c certificate');
    signer = { kty: alg === 'RS256' ? 'RSA' : 'EC', x5c: x5c.filter((x): x is string => typeof x === 'string') };
  } else if (alg !== 'none') {
    throw new KubeSgxError('POLICY_INVALID_JWS', `JWS alg ${JSON.stringify(alg)} is not accepted (none, RS256, ES256)`);
  }
  let text: string | undefined;
  if (parts[1] !== '') {
    const payload = decodeJsonSegment(parts[1]!, 'JWS payload') as Record<string, unknown> | null;
    const p = payload?.AttestationPolicy;
    if (typeof p !== 'string') throw new KubeSgxError('POLICY_INVALID_JWS', 'JWS payload must be {"AttestationPolicy": base64url(policy text)}');
    text = Buffer.from(decodeBase64(p, 'AttestationPolicy')).toString('utf8');
  }
  if (expectPayload && text === undefined) throw new KubeSgxError('POLICY_INVALID_JWS', 'the JWS has an empty payload: use :reset to reset the policy');
  return signer ? { text, jws: raw, signer } : { text, jws: raw };
}

/** An unsigned JWS holding the StoredAttestationPolicy, as MAA returns in x-ms-policy. */
export function storedPolicyJws(text: string): string {
  const h = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');
  const p = Buffer.from(JSON.stringify({ AttestationPolicy: Buffer.from(text, 'utf8').toString('base64url') })).toString('base64url');
  return `${h}.${p}.`;
}

export function policyTokenHash(jws: string): string {
  return createHash('sha256').update(jws, 'utf8').digest('base64url');
}
