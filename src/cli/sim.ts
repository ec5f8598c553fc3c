/**
 * `kube-sgx sim …`: the simulated SGX platform from the command line.
 * Parsing and file I/O only; the work is in src/sim.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Command } from 'commander';
import {
  SCENARIO_STATUS,
  SimPlatform,
  TCB_SCENARIOS,
  buildSigstruct,
  measureLayoutFile,
  SIM_PCCS_DEFAULTS,
  parseSimPccsOptions,
  startSimPccs,
  verifySigstruct,
  type TcbScenario,
} from '../sim/index.js';
import { serializeCollateral } from '../dcap/collateral.js';
import { isHex } from '../encoding.js';
import { UsageError, action, parseIntFlag, printJson, readFileOrUsage, untilSignal, usage } from './io.js';

function hexFlag(name: string, value: string, size: { exact?: number; max?: number }): Buffer {
  const v = value.startsWith('0x') ? value.slice(2) : value;
  // Stricter than decodeHex (no whitespace, no 0X): a flag value is typed, not pasted from a dump.
  if (v !== '' && !isHex(v)) throw new UsageError(`${name}: expected hex, got ${JSON.stringify(value)}`);
  const b = Buffer.from(v, 'hex');
  if (size.exact !== undefined && b.length !== size.exact) throw new UsageError(`${name}: expected ${size.exact} bytes (${size.exact * 2} hex characters), got ${b.length}`);
  if (size.max !== undefined && b.length > size.max) throw new UsageError(`${name}: at most ${size.max} bytes, got ${b.length}`);
  return b;
}

function scenarioFlag(value: string | undefined): TcbScenario | undefined {
  if (value === undefined) return undefined;
  if (!(TCB_SCENARIOS as readonly string[]).includes(value)) throw new UsageError(`--scenario: expected one of ${TCB_SCENARIOS.join(', ')}, got ${JSON.stringify(value)}`);
  return value as TcbScenario;
}

interface PlatformFlags {
  platform: string;
  scenario?: string;
  seed?: string;
}

function openPlatform(f: PlatformFlags): Promise<SimPlatform> {
  const scenario = scenarioFlag(f.scenario);
  return SimPlatform.open(resolve(f.platform), { ...(scenario ? { scenario } : {}), ...(f.seed !== undefined ? { seed: f.seed } : {}) });
}

interface EnclaveFlags {
  reportData: string;
  mrenclave?: string;
  mrsigner?: string;
  isvProdId?: string;
  isvSvn?: string;
  debug?: boolean;
}

function enclaveOptions(f: EnclaveFlags) {
  return {
    reportData: hexFlag('--report-data', f.reportData, { max: 64 }),
    ...(f.mrenclave !== undefined ? { mrEnclave: hexFlag('--mrenclave', f.mrenclave, { exact: 32 }) } : {}),
    ...(f.mrsigner !== undefined ? { mrSigner: hexFlag('--mrsigner', f.mrsigner, { exact: 32 }) } : {}),
    ...(f.isvProdId !== undefined ? { isvProdId: parseIntFlag('--isv-prod-id', f.isvProdId, 0, 0xffff) } : {}),
    ...(f.isvSvn !== undefined ? { isvSvn: parseIntFlag('--isv-svn', f.isvSvn, 0, 0xffff) } : {}),
    debug: f.debug === true,
  };
}

const withPlatformFlags = (c: Command) =>
  c
    .requiredOption('--platform <dir>', 'platform directory (created when missing, reused when present)')
    .option('--scenario <scenario>', `TCB scenario when creating: ${TCB_SCENARIOS.join(' | ')} (default up-to-date)`)
    .option('--seed <seed>', 'derive all keys from this seed when creating (deterministic platform)');

const withEnclaveFlags = (c: Command) =>
  c
    .requiredOption('--report-data <hex>', 'REPORTDATA, up to 64 bytes (zero-padded)')
    .option('--mrenclave <hex>', 'MRENCLAVE of the simulated enclave (32 bytes)')
    .option('--mrsigner <hex>', 'MRSIGNER of the simulated enclave (32 bytes)')
    .option('--isv-prod-id <n>', 'ISVPRODID (0-65535)')
    .option('--isv-svn <n>', 'ISVSVN (0-65535)')
    .option('--debug', 'a debug enclave (ATTRIBUTES.DEBUG set)');

interface TdFlags {
  mrtd?: string;
  mrconfigid?: string;
  mrowner?: string;
  mrownerconfig?: string;
  rtmr0?: string;
  rtmr1?: string;
  rtmr2?: string;
  rtmr3?: string;
}

const TD_FLAGS = ['mrtd', 'mrconfigid', 'mrowner', 'mrownerconfig', 'rtmr0', 'rtmr1', 'rtmr2', 'rtmr3'] as const;
const SGX_FLAGS = { mrenclave: '--mrenclave', mrsigner: '--mrsigner', isvProdId: '--isv-prod-id', isvSvn: '--isv-svn' } as const;

const tdOnlyFlagsGiven = (f: TdFlags) => TD_FLAGS.filter((k) => f[k] !== undefined).map((k) => `--${k}`);
const sgxOnlyFlagsGiven = (f: EnclaveFlags) => (Object.keys(SGX_FLAGS) as (keyof typeof SGX_FLAGS)[]).filter((k) => f[k] !== undefined).map((k) => SGX_FLAGS[k]);

function tdOptions(f: TdFlags) {
  const m = (name: (typeof TD_FLAGS)[number]) => (f[name] !== undefined ? hexFlag(`--${name}`, f[name], { exact: 48 }) : undefined);
  const rtmr = [m('rtmr0'), m('rtmr1'), m('rtmr2'), m('rtmr3')];
  const mrTd = m('mrtd');
  const mrConfigId = m('mrconfigid');
  const mrOwner = m('mrowner');
  const mrOwnerConfig = m('mrownerconfig');
  return {
    rtmr,
    ...(mrTd ? { mrTd } : {}),
    ...(mrConfigId ? { mrConfigId } : {}),
    ...(mrOwner ? { mrOwner } : {}),
    ...(mrOwnerConfig ? { mrOwnerConfig } : {}),
  };
}

const withTdFlags = (c: Command) =>
  c
    .option('--mrtd <hex>', 'TDX: MRTD of the simulated TD (48 bytes)')
    .option('--mrconfigid <hex>', 'TDX: MRCONFIGID (48 bytes)')
    .option('--mrowner <hex>', 'TDX: MROWNER (48 bytes)')
    .option('--mrownerconfig <hex>', 'TDX: MROWNERCONFIG (48 bytes)')
    .option('--rtmr0 <hex>', 'TDX: RTMR0 (48 bytes)')
    .option('--rtmr1 <hex>', 'TDX: RTMR1 (48 bytes)')
    .option('--rtmr2 <hex>', 'TDX: RTMR2 (48 bytes)')
    .option('--rtmr3 <hex>', 'TDX: RTMR3 (48 bytes)');

export function registerSimCommands(parent: Command): void {
  const sim = parent.command('sim').description('a simulated SGX/TDX platform: PCK hierarchy, collateral, EREPORT, QE3, TDREPORT, TD QE, SIGSTRUCT, MRENCLAVE, PCCS');

  withPlatformFlags(sim.command('init').description('create (or open) a simulated platform directory; prints its summary')).action(
    action(async (f: PlatformFlags) => {
      const p = await openPlatform(f);
      printJson({
        platform: p.dir,
        scenario: p.scenario,
        expectedStatus: SCENARIO_STATUS[p.scenario],
        fmspc: p.fmspc,
        rootCa: join(p.dir, 'root-ca.pem'),
        collateral: join(p.dir, 'collateral.json'),
        collateralExpiresAt: p.collateralExpiresAt().toISOString(),
      });
    }),
  );

  withTdFlags(withEnclaveFlags(withPlatformFlags(sim.command('quote').description('quote a simulated enclave (EREPORT + QE3) or, with --tee tdx, a simulated TD (TDREPORT + TD QE): writes OUT/quote.bin and OUT/collateral.json'))))
    .option('--tee <tee>', 'sgx (an enclave) or tdx (a trust domain)', 'sgx')
    .option('--quote-version <n>', 'SGX: 3 (certification data type 5) or 4 (type 6 wrapping 5), default 3; TDX: 4 (TD 1.0 body) or 5 (TD 1.5 body, type 3), default 4; not --version, which the root command owns')
    .requiredOption('--out <dir>', 'output directory')
    .action(
      action(async (f: PlatformFlags & EnclaveFlags & TdFlags & { tee: string; quoteVersion?: string; out: string }) => {
        if (f.tee !== 'sgx' && f.tee !== 'tdx') throw new UsageError(`--tee: expected sgx or tdx, got ${JSON.stringify(f.tee)}`);
        const tdx = f.tee === 'tdx';
        const misplaced = tdx ? sgxOnlyFlagsGiven(f) : tdOnlyFlagsGiven(f);
        if (misplaced.length > 0) throw new UsageError(`${misplaced.join(', ')}: not for --tee ${f.tee}`);
        const version = tdx
          ? (parseIntFlag('--quote-version', f.quoteVersion ?? '4', 4, 5) as 4 | 5)
          : (parseIntFlag('--quote-version', f.quoteVersion ?? '3', 3, 4) as 3 | 4);
        const opts = enclaveOptions(f);
        const td = tdx ? tdOptions(f) : undefined;
        const p = await openPlatform(f);
        let quote: Buffer;
        let collateral;
        if (td) {
          quote = p.getTdQuote(p.tdReport({ ...td, reportData: opts.reportData, debug: opts.debug, quoteVersion: version as 4 | 5 }));
          collateral = p.tdxCollateral();
        } else {
          quote = p.getQuote(p.ereport({ targetInfo: p.qeTargetInfo(), ...opts }), { version: version as 3 | 4 }).quote;
          collateral = p.collateral();
        }
        mkdirSync(f.out, { recursive: true });
        const quotePath = join(f.out, 'quote.bin');
        const collateralPath = join(f.out, 'collateral.json');
        writeFileSync(quotePath, quote);
        writeFileSync(collateralPath, serializeCollateral(collateral));
        printJson({
          quote: quotePath,
          collateral: collateralPath,
          rootCa: join(p.dir, 'root-ca.pem'),
          tee: f.tee,
          version,
          size: quote.length,
          scenario: p.scenario,
          expectedStatus: SCENARIO_STATUS[p.scenario],
          reportData: opts.reportData.toString('hex'),
        });
      }),
    );

  withTdFlags(
    sim
      .command('td-report')
      .description("simulated TDG.MR.REPORT: a 1,024-byte TDREPORT MACed for the platform's simulated TD QE (QGS and `sim quote --tee tdx` accept it)")
      .requiredOption('--platform <dir>', 'platform directory')
      .requiredOption('--report-data <hex>', 'REPORTDATA, up to 64 bytes (zero-padded)')
      .option('--debug', 'a debug TD (TDATTRIBUTES.DEBUG set)')
      .option('--quote-version <n>', 'the quote the TD QE will make of it: 4 (TDREPORT version 0, TDX 1.0) or 5 (version 1, TDX 1.5)', '4'),
  )
    .requiredOption('--out <file>', 'output file (tdreport.bin)')
    .action(
      action(async (f: PlatformFlags & TdFlags & { reportData: string; debug?: boolean; quoteVersion: string; out: string }) => {
        const quoteVersion = parseIntFlag('--quote-version', f.quoteVersion, 4, 5) as 4 | 5;
        const reportData = hexFlag('--report-data', f.reportData, { max: 64 });
        const td = tdOptions(f);
        const p = await openPlatform(f);
        writeFileSync(f.out, p.tdReport({ ...td, reportData, debug: f.debug === true, quoteVersion }));
        printJson({ tdReport: f.out, size: 1024, quoteVersion });
      }),
    );

  sim
    .command('target-info')
    .description("write the simulated QE's TARGETINFO (512 bytes): EREPORT against it for a report the QE accepts")
    .requiredOption('--platform <dir>', 'platform directory')
    .requiredOption('--out <file>', 'output file')
    .action(
      action(async (f: PlatformFlags & { out: string }) => {
        const p = await openPlatform(f);
        writeFileSync(f.out, p.qeTargetInfo());
        printJson({ targetInfo: f.out, size: 512 });
      }),
    );

  withEnclaveFlags(
    sim
      .command('report')
      .description('simulated EREPORT (432 bytes) for the enclave in --target-info (use `sim target-info` for the QE)')
      .requiredOption('--platform <dir>', 'platform directory')
      .requiredOption('--target-info <file>', '512-byte TARGETINFO of the enclave that will check the report'),
  )
    .requiredOption('--out <file>', 'output file (report.bin)')
    .action(
      action(async (f: PlatformFlags & EnclaveFlags & { targetInfo: string; out: string }) => {
        const targetInfo = readFileOrUsage(f.targetInfo, '--target-info');
        if (targetInfo.length !== 512) throw new UsageError(`--target-info: expected 512 bytes, got ${targetInfo.length}`);
        const opts = enclaveOptions(f);
        const p = await openPlatform(f);
        writeFileSync(f.out, p.ereport({ targetInfo, ...opts }));
        printJson({ report: f.out, size: 432 });
      }),
    );

  sim
    .command('sign')
    .description('build and sign a SIGSTRUCT (1808 bytes) for MRENCLAVE with an RSA-3072, e=3 key')
    .requiredOption('--mrenclave <hex>', 'MRENCLAVE (32 bytes)')
    .requiredOption('--key <file>', 'RSA-3072 private key with public exponent 3 (PEM; `sim keygen` or `openssl genrsa -3 3072`)')
    .option('--isv-prod-id <n>', 'ISVPRODID', '0')
    .option('--isv-svn <n>', 'ISVSVN', '0')
    .option('--debug', 'debug enclave: ATTRIBUTES.DEBUG and TYPE bit 31 set')
    .requiredOption('--out <file>', 'output file (sigstruct.bin)')
    .action(
      action((f: { mrenclave: string; key: string; isvProdId: string; isvSvn: string; debug?: boolean; out: string }) => {
        const sig = buildSigstruct({
          mrEnclave: hexFlag('--mrenclave', f.mrenclave, { exact: 32 }),
          key: readFileOrUsage(f.key, '--key').toString('utf8'),
          isvProdId: parseIntFlag('--isv-prod-id', f.isvProdId, 0, 0xffff),
          isvSvn: parseIntFlag('--isv-svn', f.isvSvn, 0, 0xffff),
          debug: f.debug === true,
        });
        writeFileSync(f.out, sig);
        const s = verifySigstruct(sig);
        printJson({ sigstruct: f.out, mrEnclave: s.enclaveHash.toString('hex'), mrSigner: s.mrSigner.toString('hex'), isvProdId: s.isvProdId, isvSvn: s.isvSvn, debug: s.debug });
      }),
    );

  sim
    .command('verify-sigstruct <file>')
    .description('parse and verify a SIGSTRUCT (headers, RSA signature, Q1/Q2); prints MRENCLAVE and MRSIGNER')
    .action(
      action((file: string) => {
        const s = verifySigstruct(readFileOrUsage(file, 'sigstruct'));
        printJson({
          valid: true,
          mrEnclave: s.enclaveHash.toString('hex'),
          mrSigner: s.mrSigner.toString('hex'),
          isvProdId: s.isvProdId,
          isvSvn: s.isvSvn,
          debug: s.debug,
          date: s.date,
          vendor: s.vendor,
          attributes: { flags: `0x${s.attributes.flags.toString(16)}`, xfrm: `0x${s.attributes.xfrm.toString(16)}` },
          attributeMask: { flags: `0x${s.attributeMask.flags.toString(16)}`, xfrm: `0x${s.attributeMask.xfrm.toString(16)}` },
        });
      }),
    );

  sim
    .command('keygen')
    .description('generate an RSA-3072 private key with public exponent 3 for `sim sign`')
    .requiredOption('--out <file>', 'output PEM file (written 0600)')
    .action(
      action((f: { out: string }) => {
        const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 3072, publicExponent: 3 });
        writeFileSync(f.out, privateKey.export({ format: 'pem', type: 'pkcs8' }), { mode: 0o600 });
        printJson({ key: f.out });
      }),
    );

  sim
    .command('measure <layout>')
    .description('MRENCLAVE of an enclave layout file (JSON: ssaFrameSize, enclaveSize, pages; see docs/simulator.md)')
    .action(
      action((layout: string) => {
        printJson({ mrEnclave: measureLayoutFile(layout).toString('hex') });
      }),
    );

  sim
    .command('pccs')
    .description('serve the platform collateral on PCCS / PCS v4 paths and headers until SIGINT/SIGTERM')
    .requiredOption('--platform <dir>', 'platform directory')
    .option('--listen <host:port>', 'listen address', SIM_PCCS_DEFAULTS.listen)
    .action(
      action(async (f: PlatformFlags & { listen: string }) => {
        // Flags first: a typo is a usage error before the platform directory is created.
        const options = usage(() => parseSimPccsOptions({ listen: f.listen }));
        const p = await openPlatform(f);
        const server = await startSimPccs({ ...options, platform: p });
        printJson({ url: server.url, fmspc: p.fmspc, rootCa: join(p.dir, 'root-ca.pem') });
        await untilSignal();
        await server.close();
      }),
    );
}
