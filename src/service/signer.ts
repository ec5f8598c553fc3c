/**
 * The token signer: one RSA-2048 key with a self-signed certificate per
 * installation, kept (sealed) in the store so every replica and every
 * restart signs with the same `kid`. Tokens are RS256 JWTs with `kid`,
 * `jku` and also `x5c` in the header: @azure/attestation 1.0.0 caches
 * /certs for a client's lifetime and falls back to the header `x5c`.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, X509Certificate, type KeyObject } from 'node:crypto';
import { jwtVerify, decodeProtectedHeader, type JWTPayload } from 'jose';
import { KubeSgxError } from '../errors.js';
import { generateSigningCertificate, kidForCertificate } from './certs.js';
import type { Store, StoredSigningKey } from './store/types.js';
import type { Vault } from './vault.js';

export interface SigningKey {
  kid: string;
  certificateDerB64: string;
  certificate: X509Certificate;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** base64url of the fixed protected header (alg, typ, kid, jku, x5c). */
  encodedHeader: string;
}

export interface Jwk {
  kid: string;
  kty: 'RSA';
  use: 'sig';
  alg: 'RS256';
  n: string;
  e: string;
  x5c: string[];
}

const keyContext = (kid: string) => `signing-key:${kid}`;

export class TokenSigner {
  private constructor(
    readonly keys: SigningKey[],
    readonly issuer: string,
  ) {}

  /** Loads the signing keys from the store, creating the installation's key on first start. */
  static async open(store: Store, vault: Vault, issuer: string): Promise<TokenSigner> {
    const stored = await store.ensureSigningKey(async (): Promise<StoredSigningKey> => {
      const g = await generateSigningCertificate('kube-sgx attestation service');
      const kid = kidForCertificate(g.certificateDer);
      return {
        kid,
        certificateDer: Buffer.from(g.certificateDer).toString('base64'),
        sealedPrivateKey: vault.seal(Buffer.from(g.privateKeyPem, 'utf8'), keyContext(kid)),
        createdAt: Date.now(),
      };
    });
    if (stored.length === 0) throw new KubeSgxError('STORE_UNAVAILABLE', 'the store returned no signing key');
    const keys = stored.map((k): SigningKey => {
      const certificate = new X509Certificate(Buffer.from(k.certificateDer, 'base64'));
      const privateKey = createPrivateKey(Buffer.from(vault.open(k.sealedPrivateKey, keyContext(k.kid))).toString('utf8'));
      const header = { alg: 'RS256', typ: 'JWT', kid: k.kid, jku: `${issuer}/certs`, x5c: [k.certificateDer] };
      const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
      return { kid: k.kid, certificateDerB64: k.certificateDer, certificate, privateKey, publicKey: createPublicKey(privateKey), encodedHeader };
    });
    return new TokenSigner(keys, issuer);
  }

  /** The key tokens are signed with: the newest one (older ones stay published for validation). */
  get active(): SigningKey {
    return this.keys[this.keys.length - 1]!;
  }

  get jwksUri(): string {
    return `${this.issuer}/certs`;
  }

  jwks(): { keys: Jwk[] } {
    return {
      keys: this.keys.map((k) => {
        const jwk = k.publicKey.export({ format: 'jwk' }) as { n: string; e: string };
        return { kid: k.kid, kty: 'RSA', use: 'sig', alg: 'RS256', n: jwk.n, e: jwk.e, x5c: [k.certificateDerB64] };
      }),
    };
  }

  /**
   * RS256 compact JWS. Signed with node:crypto's callback form, which runs
   * on libuv's thread pool (about twice the throughput of WebCrypto here), so
   * a second core signs while the event loop verifies the next quote. Signing
   * inline instead was tried: on the 2-core bench VM neither it nor switching
   * on event-loop utilisation gave a p99 at 500 req/s that stood out of the
   * run-to-run noise, and inline signing halved one worker's peak rate.
   * Tokens are verified with jose (tests check jose and the Azure SDK accept them).
   */
  async sign(claims: JWTPayload): Promise<string> {
    const k = this.active;
    const input = `${k.encodedHeader}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}`;
    const sig = await new Promise<Buffer>((resolve, reject) => cryptoSign('sha256', Buffer.from(input), k.privateKey, (e, s) => (e ? reject(e) : resolve(s))));
    return `${input}.${sig.toString('base64url')}`;
  }

  /** Verifies a token this service issued (signature, iss, exp/nbf); returns its claims. */
  async verify(token: string): Promise<JWTPayload> {
    let kid: string | undefined;
    try {
      kid = decodeProtectedHeader(token).kid;
    } catch (e) {
      throw new KubeSgxError('TOKEN_INVALID', 'the bearer token is not a JWS', { cause: e });
    }
    const key = this.keys.find((k) => k.kid === kid);
    if (!key) throw new KubeSgxError('TOKEN_INVALID', 'the bearer token was not signed by this service (unknown kid)');
    try {
      const { payload } = await jwtVerify(token, key.publicKey, { algorithms: ['RS256'], issuer: this.issuer, clockTolerance: 5 });
      return payload;
    } catch (e) {
      throw new KubeSgxError('TOKEN_INVALID', `the bearer token is invalid: ${(e as Error).message}`, { cause: e });
    }
  }
}
