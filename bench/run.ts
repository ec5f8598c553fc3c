/**
 * `npm run bench [-- NAME...]`: runs bench/*.bench.ts (or those whose name
 * contains one of the arguments). Each bench module's default export returns
 * a markdown section; it is saved in bench/results/NAME.md, and BENCHMARKS.md
 * is rebuilt from every saved section, so one component can be re-measured
 * without losing the others' figures.
 *
 * Each bench runs in a process of its own (`run.ts --one FILE OUT`): a bench
 * that leaves a large heap behind would otherwise have V8 collect it, on
 * parallel GC threads, while the next bench measures millisecond tails on
 * the same two cores.
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { cpus, totalmem, platform, release, tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export interface BenchSection {
  title: string;
  /** Markdown body: tables of figures, with the competitor in the same run. */
  markdown: string;
}

const here = dirname(fileURLToPath(import.meta.url));
const resultsDir = join(here, 'results');
const filters = process.argv[2] === '--one' ? [] : process.argv.slice(2);

function machine(): string {
  const c = cpus();
  return `${c.length} × ${c[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, ${platform()} ${release()}, Node.js ${process.version}`;
}

/** Runs one bench module in this process and writes its section as JSON to `out`. */
async function runOne(file: string, out: string): Promise<void> {
  const mod = (await import(pathToFileURL(join(here, file)).href)) as { default: () => Promise<BenchSection> };
  const section = await mod.default();
  writeFileSync(out, JSON.stringify(section));
}

/** Runs one bench module in a fresh Node.js process (see above) and returns its section. */
function runInChild(file: string): Promise<BenchSection> {
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-bench-run-'));
  const out = join(dir, 'section.json');
  return new Promise<BenchSection>((resolve, reject) => {
    // No memory reducer in the harness: once a bench sits waiting on its load generator, V8 would start
    // "reduce" mark-compacts of its heap (30-80 ms each, on parallel threads) in the middle of the runs.
    const child = spawn(process.execPath, [...process.execArgv, '--no-memory-reducer', fileURLToPath(import.meta.url), '--one', file, out], { stdio: 'inherit' });
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      try {
        if (code !== 0) return reject(new Error(`bench ${file} failed (${signal ?? `exit ${code}`})`));
        resolve(JSON.parse(readFileSync(out, 'utf8')) as BenchSection);
      } catch (e) {
        reject(e instanceof Error ? e : new Error(String(e)));
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}

async function main(): Promise<void> {
  mkdirSync(resultsDir, { recursive: true });
  const files = readdirSync(here)
    .filter((f) => f.endsWith('.bench.ts'))
    .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
    .sort();
  for (const f of files) {
    const name = f.replace(/\.bench\.ts$/, '');
    process.stderr.write(`bench: ${name} …\n`);
    const started = new Date();
    const section = await runInChild(f);
    const header =
      `## ${section.title}\n\n` +
      `Measured ${started.toISOString()} on ${machine()}.\n` +
      `Command: \`npm run bench -- ${name}\`.\n\n`;
    writeFileSync(join(resultsDir, `${name}.md`), header + section.markdown.trim() + '\n');
  }
  const sections = existsSync(resultsDir)
    ? readdirSync(resultsDir).filter((f) => f.endsWith('.md')).sort().map((f) => readFileSync(join(resultsDir, f), 'utf8'))
    : [];
  const doc =
    '# Benchmarks\n\n' +
    'Figures from `npm run bench` (bench/*.bench.ts). Each section states when, where and with which command it was measured;\n' +
    'competitors are measured in the same run. Re-run one section with `npm run bench -- NAME`.\n\n' +
    'Load generators beyond Node.js, used where a Node client on the same two cores would measure its own pauses: the webhook and\n' +
    'attestation-service benches build bench/loadgen/paced-http.c with the system C compiler and OpenSSL headers (`cc`, `libssl-dev`),\n' +
    'and the node-agent bench calls Allocate through gRPC\'s C core (`apt-get install python3-grpcio`). Without them those rows say\n' +
    '"not measured" and why; the Node-client rows are always measured.\n\n' +
    sections.join('\n');
  writeFileSync(join(here, '..', 'BENCHMARKS.md'), doc);
}

(process.argv[2] === '--one' ? runOne(process.argv[3]!, process.argv[4]!) : main()).catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
