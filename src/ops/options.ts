/**
 * Component options validated by one zod schema, shared by the CLI and the
 * component's `start*()`: an error names the flag the CLI user typed
 * (`--idle-timeout-ms: …`) or, for a field without a flag, the field.
 */
import type { z } from 'zod';
import { KubeSgxError, type ErrorCode } from '../errors.js';
import { parseHostPort } from './listen.js';

/** Field name → CLI flag, for messages. */
export type FlagNames = Readonly<Record<string, string>>;

/** An integer option given as a number or as the decimal text of a CLI flag. */
export function intOption(zod: typeof z, min: number, max: number) {
  const range = `must be between ${min} and ${max}`;
  return zod.preprocess(
    (v) => (typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v),
    zod.number({ error: 'expected an integer' }).int('expected an integer').min(min, range).max(max, range),
  );
}

/** A "HOST:PORT" listen address (port 0 picks a free port), checked as listen() will read it. */
export function hostPortOption(zod: typeof z) {
  return zod.string().refine(
    (v) => {
      try {
        parseHostPort(v);
        return true;
      } catch {
        return false;
      }
    },
    { error: (iss) => `expected HOST:PORT, got ${JSON.stringify(iss.input)}` },
  );
}

/** An http(s) URL with a host (PCCS, PCS, THIM, issuer, QCNL URLs). */
export function isHttpUrl(v: string): boolean {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return false;
  }
  return (u.protocol === 'https:' || u.protocol === 'http:') && u.hostname !== '';
}

/** An http(s) URL option (isHttpUrl). */
export function httpUrlOption(zod: typeof z) {
  return zod.string().refine(isHttpUrl, { error: (iss) => `expected an http(s) URL, got ${JSON.stringify(iss.input)}` });
}

/** Parses `input` with `schema`; throws KubeSgxError(code) naming the first bad flag/field, all issues in details. */
export function parseOptions<S extends z.ZodType>(schema: S, input: unknown, code: ErrorCode, flags: FlagNames): z.output<S> {
  const r = schema.safeParse(input);
  if (r.success) return r.data;
  const issues = r.error.issues.map((i) => {
    const path = i.path.map((p) => (typeof p === 'symbol' ? String(p) : p));
    const field = path.length ? String(path[0]) : '';
    return { path, flag: flags[field] ?? (path.length ? path.join('.') : '(options)'), message: i.message };
  });
  const first = issues[0]!;
  throw new KubeSgxError(code, `${first.flag}: ${first.message}`, { path: first.path, details: { issues } });
}
