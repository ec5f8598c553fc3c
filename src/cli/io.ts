/**
 * Shared CLI plumbing: exit codes and how results and errors are printed.
 * 0 = success, 1 = the input was processed and rejected (or the operation
 * failed), 2 = the command line itself was wrong, 3 = a check could not be
 * made (doctor: no kubeconfig, API unreachable, host root missing).
 */
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { KubeSgxError, toKubeSgxError } from '../errors.js';
import { parseHostPort } from '../ops/listen.js';
import { isHttpUrl } from '../ops/options.js';

export const EXIT_OK = 0;
export const EXIT_REJECTED = 1;
export const EXIT_USAGE = 2;
export const EXIT_UNCHECKED = 3;

/** Thrown by command actions for bad flags/arguments: exit code 2. */
export class UsageError extends KubeSgxError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, null, 2) + '\n');
}

/**
 * Wraps a command action: typed errors become one JSON object on stdout
 * (`{"error":{code,message,...}}`) and the matching exit code.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<number | void> | number | void) {
  return async (...args: A): Promise<void> => {
    try {
      const code = await fn(...args);
      process.exitCode = typeof code === 'number' ? code : EXIT_OK;
    } catch (e) {
      const err = toKubeSgxError(e);
      printJson({ error: err.toJSON() });
      process.exitCode = err instanceof UsageError || USAGE_CODES.has(err.code) ? EXIT_USAGE : EXIT_REJECTED;
    }
  };
}

/** Errors from deeper layers that can only come from a bad flag value: exit 2 like a UsageError. */
const USAGE_CODES: ReadonlySet<string> = new Set(['LISTEN_ADDRESS_INVALID']);

/** Checks a HOST:PORT flag before anything starts, so a typo is a usage error naming the flag, not a half-started process. */
export function hostPortFlag<T extends string | undefined>(name: string, value: T): T {
  if (value === undefined) return value;
  try {
    parseHostPort(value, name);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  return value;
}

/** Checks an http(s) URL flag (PCCS, THIM, issuer): a usage error naming the flag. */
export function urlFlag<T extends string | undefined>(name: string, value: T): T {
  if (value !== undefined && !isHttpUrl(value)) throw new UsageError(`${name}: expected an http(s) URL, got ${JSON.stringify(value)}`);
  return value;
}

/** Reads a file a flag or argument names (`what`); unreadable is a usage error naming it. */
export function readFileOrUsage(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${what}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

/** Commander argument parser for a repeatable flag: every value, in order. */
export const collect = (v: string, prev: string[]) => [...prev, v];

export function parseIntFlag(name: string, value: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (!/^\d+$/.test(value)) throw new UsageError(`${name}: expected an integer, got ${JSON.stringify(value)}`);
  const n = Number(value);
  if (n < min || n > max) throw new UsageError(`${name}: must be between ${min} and ${max}, got ${n}`);
  return n;
}

/** Resolves when SIGINT or SIGTERM arrives: long-running commands await it, then shut down. */
export function untilSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (sig: NodeJS.Signals) => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

/**
 * A long-running command: starts the component, serves until SIGINT or
 * SIGTERM, logs the signal and stops it. Signals are listened for before
 * start-up, so one that arrives while the component is starting (binding
 * sockets, loading libraries) still ends in a clean stop once it is up,
 * rather than Node's default exit that leaves socket files behind.
 */
export async function serveUntilSignal(log: Pick<Logger, 'info'>, start: () => Promise<{ stop(): Promise<void> }>): Promise<NodeJS.Signals> {
  const signalled = untilSignal();
  const running = await start();
  const sig = await signalled;
  log.info({ signal: sig }, 'shutting down');
  await running.stop();
  return sig;
}

/** Runs an options parser; its typed error (naming the flag) becomes a UsageError (exit 2). */
export function usage<T>(parse: () => T): T {
  try {
    return parse();
  } catch (e) {
    if (e instanceof KubeSgxError && !(e instanceof UsageError)) throw new UsageError(e.message);
    throw e;
  }
}
