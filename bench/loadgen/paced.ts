/**
 * Builds and runs bench/loadgen/paced-http.c: an open-loop load generator that
 * sends request i at start + i / rate on an idle connection of a keep-alive
 * pool and reports each latency from the schedule and from the write.
 * Shared by the webhook and attestation-service benches.
 */
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./paced-http.c', import.meta.url));

export interface PacedResult {
  count: number;
  non200: number;
  /** Wall time of the measured part of the run, including connection set-up (s). */
  seconds: number;
  /** ms from the scheduled send time (includes any lateness of the client). */
  fromSchedule: number[];
  /** ms from the moment the request was written. */
  fromSend: number[];
  maxInFlight: number;
}

/** Compiles the generator into `dir` with the system C compiler and OpenSSL; the reason when it cannot. */
export function buildPacedClient(dir: string): Promise<{ binary: string } | { reason: string }> {
  const binary = join(dir, 'paced-http');
  return new Promise((resolve) => {
    execFile(process.env.CC ?? 'cc', ['-O2', '-o', binary, SOURCE, '-lssl', '-lcrypto'], (err, _out, stderr) => {
      resolve(err ? { reason: `cannot build ${SOURCE} (needs a C compiler and OpenSSL headers): ${String(stderr).split('\n')[0] || err.message}` } : { binary });
    });
  });
}

export interface PacedRun {
  binary: string;
  /** Scratch directory for the request and result files. */
  dir: string;
  port: number;
  /** CA file for HTTPS, or undefined for plain HTTP. */
  caFile?: string;
  serverName?: string;
  /** Complete HTTP/1.1 requests, sent in turn. */
  requests: Buffer[];
  rate: number;
  seconds: number;
  connections?: number;
  /** Poll instead of sleeping: exact send times and prompt reads, at the cost of one core. */
  spin?: boolean;
  /**
   * Seconds of the same load first, on the same connections in the same process, recorded nowhere:
   * the measured requests then meet a client and connections that are already warm, as a
   * long-lived caller's pool is (a fresh process on fresh TLS connections can be slower at first).
   */
  warmupSeconds?: number;
}

export async function runPaced(o: PacedRun): Promise<PacedResult> {
  const reqFile = join(o.dir, 'paced-requests.bin');
  await writeFile(reqFile, Buffer.concat(o.requests.flatMap((r) => [Buffer.from([r.length >>> 24, (r.length >>> 16) & 255, (r.length >>> 8) & 255, r.length & 255]), r])));
  const outFile = join(o.dir, 'paced-latencies.bin');
  const count = Math.round(o.rate * o.seconds);
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    const args = [String(o.port), o.caFile ?? '-', o.serverName ?? 'localhost', reqFile, String(o.rate), String(count), String(o.connections ?? 64), outFile, ...(o.spin ? ['spin'] : []), ...(o.warmupSeconds ? [`warm=${Math.round(o.rate * o.warmupSeconds)}`] : [])];
    execFile(o.binary, args, (err, _out, stderr) => (err ? reject(new Error(`paced-http: ${stderr || err.message}`)) : resolve()));
  });
  const seconds = (performance.now() - started) / 1000 - (o.warmupSeconds ?? 0);
  const raw = await readFile(outFile);
  const d = new Float64Array(raw.buffer, raw.byteOffset, raw.length / 8);
  const fromSend: number[] = [];
  const fromSchedule: number[] = [];
  for (let i = 0; i < count; i++) {
    fromSend.push(d[2 * i]!);
    fromSchedule.push(d[2 * i + 1]!);
  }
  return { count, non200: d[2 * count]!, seconds, fromSchedule, fromSend, maxInFlight: d[2 * count + 1]! };
}

/** The p-th percentile (0–100) of an unsorted list. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** An HTTP/1.1 request with a JSON body. */
export function jsonRequest(method: string, path: string, body: string, host = 'localhost'): Buffer {
  const b = Buffer.from(body);
  return Buffer.concat([Buffer.from(`${method} ${path} HTTP/1.1\r\nHost: ${host}\r\nContent-Type: application/json\r\nContent-Length: ${b.length}\r\n\r\n`), b]);
}
