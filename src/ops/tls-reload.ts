/**
 * Serving certificates that follow their files. cert-manager (or a mounted
 * Secret) rotates a pair by swapping files under the server; this re-reads
 * them on file events and on a poll, checks that the key belongs to the
 * certificate, and installs the pair with `setSecureContext`, so rotation
 * needs no restart. A half-written rotation (new certificate, old key) keeps
 * the current pair. Used by the webhook and the attestation service.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { Logger } from './log.js';

export interface CertificatePair {
  cert: Buffer;
  key: Buffer;
}

export async function readCertificatePair(certFile: string, keyFile: string): Promise<CertificatePair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { cert, key };
}

/**
 * Throws unless the key belongs to the (first) certificate. OpenSSL only
 * catches a mismatch between keys of the same type; an EC key beside an RSA
 * certificate would load and fail every handshake.
 */
export function checkCertificatePair(pair: CertificatePair): void {
  createSecureContext(pair);
  const fromKey = createPublicKey(createPrivateKey(pair.key)).export({ type: 'spki', format: 'der' });
  const fromCert = new X509Certificate(pair.cert).publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) throw new Error('the private key does not belong to the certificate');
}

export interface CertificateReloaderOptions {
  certFile: string;
  keyFile: string;
  /** The pair the server started with. */
  current: CertificatePair;
  /** Installs a checked pair (e.g. `server.setSecureContext`). */
  install(pair: CertificatePair): void;
  /** Re-read at least this often (ms), besides file-change events. Default 10 s. */
  pollMs?: number;
  /** Told about every attempt that found new bytes: installed, or kept the current pair. */
  onResult?(result: 'ok' | 'error', pair: CertificatePair): void;
  logger: Logger;
}

export interface CertificateReloader {
  readonly current: CertificatePair;
  /** Re-reads the files now; resolves true when a new pair was installed. */
  reload(): Promise<boolean>;
  close(): void;
}

export function watchCertificateFiles(opts: CertificateReloaderOptions): CertificateReloader {
  const log = opts.logger;
  let current = opts.current;
  const reload = async (): Promise<boolean> => {
    let next: CertificatePair;
    try {
      next = await readCertificatePair(opts.certFile, opts.keyFile);
    } catch (e) {
      opts.onResult?.('error', current);
      log.warn({ err: (e as Error).message }, 'cannot read serving certificate; keeping the current one');
      return false;
    }
    if (next.cert.equals(current.cert) && next.key.equals(current.key)) return false;
    try {
      // Throws while a rotation is half written (new cert, old key): keep serving the old pair.
      checkCertificatePair(next);
      opts.install(next);
    } catch (e) {
      opts.onResult?.('error', current);
      log.warn({ err: (e as Error).message }, 'new certificate/key do not load (yet); keeping the current one');
      return false;
    }
    current = next;
    opts.onResult?.('ok', next);
    log.info('serving certificate reloaded');
    return true;
  };
  let debounce: NodeJS.Timeout | undefined;
  const soon = () => {
    clearTimeout(debounce);
    debounce = setTimeout(() => void reload(), 50);
  };
  const watchers: FSWatcher[] = [];
  for (const dir of new Set([dirname(opts.certFile), dirname(opts.keyFile)])) {
    try {
      const w = watch(dir, { persistent: false }, soon);
      w.on('error', () => w.close());
      watchers.push(w);
    } catch {
      /* no inotify here: the poll below still catches rotations */
    }
  }
  const poll = setInterval(() => void reload(), opts.pollMs ?? 10_000);
  poll.unref();
  return {
    get current() {
      return current;
    },
    reload,
    close() {
      clearInterval(poll);
      clearTimeout(debounce);
      for (const w of watchers) w.close();
    },
  };
}
