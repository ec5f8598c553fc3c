/**
 * `kube-sgx demo` (what `npm start` runs): the whole confidential-computing
 * flow on this machine. Progress goes to stdout as each step ends (or one JSON
 * report with --json); component logs are silent unless --log-level is given.
 * Exit 0 only when every step passed and everything was cleaned up; 1 when a
 * step failed; 130 when interrupted (SIGINT/SIGTERM), after cleanup.
 */
import { Command, Option } from 'commander';
import { runDemo, type DemoReport } from '../demo/index.js';
import type { StepResult } from '../demo/runner.js';
import { action, printJson } from './io.js';

interface DemoFlags {
  json?: boolean;
  hardware?: boolean;
  logLevel?: string;
  holdAfter?: string;
}

const EXIT_INTERRUPTED = 130;

function line(text = ''): void {
  process.stdout.write(text + '\n');
}

/** Wraps text at `width` columns, indenting continuation lines. */
function wrap(text: string, indent: string, width = 100): string {
  const words = text.split(' ');
  const out: string[] = [];
  let cur = indent;
  for (const w of words) {
    if (cur.length + w.length + 1 > width && cur.trim() !== '') {
      out.push(cur.trimEnd());
      cur = indent;
    }
    cur += w + ' ';
  }
  out.push(cur.trimEnd());
  return out.join('\n');
}

/** Progress: the step's title when it starts, its outcome on the same line when it ends. */
function printStart(i: number, total: number, title: string): void {
  process.stdout.write(`[${i + 1}/${total}] ${title} … `);
}

function printResult(i: number, total: number, r: StepResult): void {
  const mark = r.status === 'passed' ? 'ok' : r.status === 'failed' ? 'FAILED' : r.status;
  if (r.status === 'skipped') process.stdout.write(`[${i + 1}/${total}] ${r.title} … `);
  line(`${mark}${r.status === 'skipped' ? '' : ` (${r.durationMs} ms)`}`);
  if (r.proved) line(wrap(`proved: ${r.proved}`, '      '));
  if (r.error) line(wrap(`error ${r.error.code}: ${r.error.message}`, '      '));
  if (r.reason && r.status !== 'passed') line(wrap(r.reason, '      '));
}

function printSummary(report: DemoReport): void {
  line();
  const failed = report.steps.find((s) => s.status === 'failed');
  if (report.ok) {
    line(`All ${report.steps.length} steps passed in ${(report.durationMs / 1000).toFixed(1)} s (${report.mode}${report.mode === 'simulation' ? ': no SGX hardware was used, and nothing here is protected' : ''}).`);
  } else if (report.interrupted) {
    line(`Interrupted (${report.interrupted}).`);
  } else if (failed) {
    line(`Demo FAILED at "${failed.title}": ${failed.error?.code}: ${failed.error?.message}`);
  } else {
    line('Demo FAILED during cleanup.');
  }
  if (report.cleanup.ok) line(`Everything started was stopped; ${report.tempDir} was removed.`);
  else line(`Cleanup problems: ${report.cleanup.failures.map((f) => `${f.what}: ${f.error}`).join('; ') || `${report.tempDir} still exists`}`);
}

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description('run the whole SGX and TDX flow on this machine: simulated node, node agent + kubelet, quote helper, enclave app, attestation, secret release, a trust domain through the QGS')
    .option('--json', 'print one JSON report instead of progress lines')
    .option('--hardware', 'use the real backends on an SGX machine (host root /, quote helper --backend dcap); fails clearly without SGX')
    .option('--log-level <level>', 'component logs on stderr (trace, debug, info, warn, error); default silent')
    .addOption(new Option('--hold-after <step>', 'tests: wait for SIGINT after this step').hideHelp())
    .action(
      action(async (flags: DemoFlags) => {
        const ac = new AbortController();
        const onSignal = (sig: NodeJS.Signals) => ac.abort(sig);
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
        if (!flags.json) {
          line(
            flags.hardware
              ? 'kube-sgx demo --hardware: the node half of the flow on this machine\'s SGX (device plugins to a kubelet stand-in, Intel\'s quote library)'
              : 'kube-sgx demo: the whole SGX and TDX flow on this machine, in simulation (no SGX or TDX hardware needed or used)',
          );
          line();
        }
        let report: DemoReport;
        try {
          report = await runDemo({
            hardware: flags.hardware === true,
            signal: ac.signal,
            logLevel: flags.logLevel || process.env.LOG_LEVEL || undefined,
            holdAfter: flags.holdAfter,
            events: {
              onStart: (i, total, step) => {
                if (!flags.json) printStart(i, total, step.title);
              },
              onResult: (i, total, r) => {
                if (!flags.json) printResult(i, total, r);
              },
              onHold: (step, tempDir) => process.stderr.write(`kube-sgx demo: holding after ${step}; temp dir ${tempDir}\n`),
            },
          });
        } finally {
          process.off('SIGINT', onSignal);
          process.off('SIGTERM', onSignal);
        }
        if (flags.json) printJson(report);
        else printSummary(report);
        const code = report.interrupted ? EXIT_INTERRUPTED : report.ok ? 0 : 1;
        // Everything is stopped; if some library still holds a handle, do not hang the terminal.
        setTimeout(() => {
          process.stderr.write('kube-sgx demo: forced exit: a handle stayed open after cleanup\n');
          process.exit(code);
        }, 3000).unref();
        return code;
      }),
    );
}
