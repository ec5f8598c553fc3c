/**
 * Serving certificates from files, for every TLS listener (the webhook, the
 * attestation service): read the pair, check that the key belongs to the
 * certificate, then follow the files. cert-manager (or a mounted Secret)
 * rotates a pair by swapping files under the server; this re-reads them on
 * file events and on a poll and installs a checked pair with
 * `setSecureContext`, so rotation needs no restart. A half-written rotation
 * (new certificate, old key) keeps the current pair. Optional metrics: reloads
 * by result and the expiry of the certificate in use.
 */
import { X509Certificate, createPrivateKey, createPublicKey } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { createSecureContext } from 'node:tls';
import { Counter, Gauge, type Registry } from 'prom-client';
import { KubeSgxError } from '../errors.js';
import type { Logger } from './log.js';

export interface CertificatePair {
  cert: Buffer;
  key: Buffer;
}

async function readCertificatePair(certFile: string, keyFile: string): Promise<CertificatePair> {
  const [cert, key] = await Promise.all([readFile(certFile), readFile(keyFile)]);
  return { cert, key };
}

/**
 * Throws unless the key belongs to the (first) certificate. OpenSSL only
 * catches a mismatch between keys of the same type; an EC key beside an RSA
 * certificate would load and fail every handshake.
 */
function checkCertificatePair(pair: CertificatePair): void {
  createSecureContext(pair);
  const fromKey = createPublicKey(createPrivateKey(pair.key)).export({ type: 'spki', format: 'der' });
  const fromCert = new X509Certificate(pair.cert).publicKey.export({ type: 'spki', format: 'der' });
  if (!fromKey.equals(fromCert)) throw new Error('the private key does not belong to the certificate');
}

/** Expiry of the (first) certificate in Unix seconds, or undefined when X509Certificate cannot read it. */
function notAfterSeconds(pair: CertificatePair): number | undefined {
  try {
    return Math.floor(new Date(new X509Certificate(pair.cert).validTo).getTime() / 1000);
  } catch {
    return undefined;
  }
}

export interface CertificateFilesOptions {
  certFile: string;
  keyFile: string;
  /** The code of the error thrown when the files cannot be used at start (each component documents its own). */
  errorCode: 'WEBHOOK_TLS_INVALID' | 'CONFIG_INVALID';
  /** Re-read at least this often (ms), besides file-change events. Default 10 s. */
  pollMs?: number;
  logger: Logger;
}

export interface CertificateFiles {
  /** The pair in use. */
  readonly current: CertificatePair;
  /** When the certificate in use expires (Unix seconds); undefined when it cannot be read. */
  readonly notAfterSeconds: number | undefined;
  /** Starts following the files: a new checked pair is passed to `install` (e.g. `server.setSecureContext`). */
  watch(install: (pair: CertificatePair) => void): void;
  /** Re-reads the files now; resolves true when a new pair was installed. */
  reload(): Promise<boolean>;
  /** `<prefix>_certificate_reloads_total{result}` and `<prefix>_certificate_not_after_seconds` in `registry`. */
  exportMetrics(registry: Registry, prefix: string): void;
  close(): void;
}

/** Reads and checks the pair (a KubeSgxError with `errorCode` naming both files when unusable). */
export async function loadCertificateFiles(opts: CertificateFilesOptions): Promise<CertificateFiles> {
  const log = opts.logger;
  let current: CertificatePair;
  try {
    current = await readCertificatePair(opts.certFile, opts.keyFile);
    checkCertificatePair(current);
  } catch (e) {
    throw new KubeSgxError(opts.errorCode, `cannot use --tls-cert ${opts.certFile} / --tls-key ${opts.keyFile}: ${(e as Error).message}`, { cause: e });
  }
  let install: ((pair: CertificatePair) => void) | undefined;
  let metrics: { reloads: Counter<'result'>; notAfter: Gauge } | undefined;
  const noteExpiry = () => {
    const s = notAfterSeconds(current);
    if (s !== undefined) metrics?.notAfter.set(s);
  };
  const failed = (message: string, e: unknown): false => {
    metrics?.reloads.inc({ result: 'error' });
    log.warn({ err: (e as Error).message }, message);
    return false;
  };

  const reload = async (): Promise<boolean> => {
    let next: CertificatePair;
    try {
      next = await readCertificatePair(opts.certFile, opts.keyFile);
    } catch (e) {
      return failed('cannot read serving certificate; keeping the current one', e);
    }
    if (next.cert.equals(current.cert) && next.key.equals(current.key)) return false;
    try {
      // Throws while a rotation is half written (new cert, old key): keep serving the old pair.
      checkCertificatePair(next);
      install?.(next);
    } catch (e) {
      return failed('new certificate/key do not load (yet); keeping the current one', e);
    }
    current = next;
    metrics?.reloads.inc({ result: 'ok' });
    noteExpiry();
    log.info('serving certificate reloaded');
    return true;
  };

  let debounce: NodeJS.Timeout | undefined;
  let poll: NodeJS.Timeout | undefined;
  const watchers: FSWatcher[] = [];
  return {
    get current() {
      return current;
    },
    get notAfterSeconds() {
      return notAfterSeconds(current);
    },
    watch(fn) {
      install = fn;
      if (poll) return;
      const soon = () => {
        clearTimeout(debounce);
        debounce = setTimeout(() => void reload(), 50);
      };
      for (const dir of new Set([dirname(opts.certFile), dirname(opts.keyFile)])) {
        try {
          const w = watch(dir, { persistent: false }, soon);
          w.on('error', () => w.close());
          watchers.push(w);
        } catch {
          /* no inotify here: the poll below still catches rotations */
        }
      }
      poll = setInterval(() => void reload(), opts.pollMs ?? 10_000);
      poll.unref();
    },
    reload,
    exportMetrics(registry, prefix) {
      metrics = {
        reloads: new Counter({
          name: `${prefix}_certificate_reloads_total`,
          help: 'Serving certificate reloads, by result (ok, error).',
          labelNames: ['result'] as const,
          registers: [registry],
        }),
        notAfter: new Gauge({
          name: `${prefix}_certificate_not_after_seconds`,
          help: 'Expiry of the serving certificate in use (Unix seconds).',
          registers: [registry],
        }),
      };
      noteExpiry();
    },
    close() {
      clearInterval(poll);
      clearTimeout(debounce);
      for (const w of watchers) w.close();
    },
  };
}
