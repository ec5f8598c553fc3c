/**
 * `kube-sgx quote inspect`, `kube-sgx quote verify` and `kube-sgx collateral
 * fetch`: argument parsing and file I/O only; the work is in src/sgx and src/dcap.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { KubeSgxError } from '../errors.js';
import { decodeQuoteFile, parseQuote, parsePckExtensions, pckExtensionsToJson, quoteToJson } from '../sgx/index.js';
import { collateralProviderFor, parseCollateral, QuoteVerifier, serializeCollateral, verifyQuote, type CollateralSource } from '../dcap/index.js';
import { MAX_QUOTE_BYTES } from '../dcap/quote-parts.js';
import { parseCertificate } from '../dcap/x509.js';
import { EXIT_OK, EXIT_REJECTED, UsageError, action, collect, printJson, readFileOrUsage, urlFlag } from './io.js';

/** A quote file: binary, hex or base64 (decoded by src/sgx), size-capped first. */
function readQuoteFile(path: string): Buffer {
  const file = readFileOrUsage(path, 'quote');
  if (file.length > MAX_QUOTE_BYTES * 2 + 16) {
    throw new KubeSgxError('QUOTE_TOO_LARGE', `quote file is ${file.length} bytes; the limit is ${MAX_QUOTE_BYTES} bytes of quote (binary, hex or base64)`);
  }
  return decodeQuoteFile(file);
}

function parseAt(value: string | undefined): Date | undefined {
  if (value === undefined) return undefined;
  if (!/^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(value)) throw new UsageError(`--at: expected an ISO-8601 time, got ${JSON.stringify(value)}`);
  const d = new Date(value);
  if (!Number.isFinite(d.getTime())) throw new UsageError(`--at: invalid time ${JSON.stringify(value)}`);
  return d;
}

/** A root file as PEM text or DER bytes. */
function readRoot(path: string): string | Uint8Array {
  const b = readFileOrUsage(path, '--root-ca');
  return b[0] === 0x30 ? b : b.toString('utf8');
}

interface VerifyFlags {
  collateral: string;
  at?: string;
  rootCa: string[];
  pckChain?: string;
}

interface FetchFlags {
  out: string;
  pccs?: string;
  pcs?: string | boolean;
  thim?: string;
  pckChain?: string;
  insecureTls?: boolean;
  timeoutMs?: string;
}

export function registerQuoteCommands(quote: Command): void {
  quote
    .command('inspect <file>')
    .description('print every field of a quote (binary, hex or base64 file) as JSON')
    .action(
      action((file: string) => {
        const q = parseQuote(readQuoteFile(file));
        const out: Record<string, unknown> = { ...quoteToJson(q) };
        const cd = q.signatureData.certificationData;
        if (cd.type === 5 && cd.certificates.length > 0) {
          const leaf = parseCertificate(cd.certificates[0]);
          out.pckCertificate = {
            subject: leaf.subjectCn,
            issuer: leaf.issuerCn,
            serial: leaf.serialHex,
            notBefore: new Date(leaf.notBefore).toISOString(),
            notAfter: new Date(leaf.notAfter).toISOString(),
            sgxExtensions: pckExtensionsToJson(parsePckExtensions(cd.certificates[0])),
          };
        }
        printJson(out);
      }),
    );

  quote
    .command('verify <quote>')
    .description('verify a quote against saved collateral; prints one JSON object (exit 0 verified, 1 rejected or Revoked, 2 usage)')
    .requiredOption('--collateral <file>', 'collateral JSON (kube-sgx collateral fetch, or the dcap-qvl format)')
    .option('--at <time>', 'verification time, ISO-8601 (default: now)')
    .option('--root-ca <file>', 'trusted root certificate, PEM or DER; replaces the pinned Intel SGX Root CA (repeatable)', collect, [])
    .option('--pck-chain <file>', 'PEM PCK certificate (chain) for quotes with certification data types 1-4')
    .action(
      action((file: string, flags: VerifyFlags) => {
        const now = parseAt(flags.at);
        const collateralText = readFileOrUsage(flags.collateral, '--collateral').toString('utf8');
        const roots = flags.rootCa.map(readRoot);
        const pckCertChain = flags.pckChain !== undefined ? readFileOrUsage(flags.pckChain, '--pck-chain').toString('utf8') : undefined;
        const quote = readQuoteFile(file);
        const collateral = parseCollateral(collateralText);
        const result = verifyQuote(quote, collateral, {
          ...(now ? { now } : {}),
          ...(roots.length > 0 ? { trustedRoots: roots } : {}),
          ...(pckCertChain !== undefined ? { pckCertChain } : {}),
        });
        if (result.status === 'Revoked') {
          printJson({ error: { code: 'TCB_REVOKED', message: 'the platform or QE TCB level is Revoked' }, ...result });
          return EXIT_REJECTED;
        }
        printJson(result);
        return EXIT_OK;
      }),
    );
}

export function registerCollateralCommands(program: Command): void {
  const collateral = program.command('collateral').description('DCAP collateral (TCB Info, QE Identity, CRLs, issuer chains)');
  collateral
    .command('fetch <quote>')
    .description("fetch the collateral a quote needs (by its PCK certificate's FMSPC and CA) and save it as collateral JSON")
    .requiredOption('--out <file>', 'where to write the collateral JSON')
    .option('--pccs <url>', 'a PCCS base URL (e.g. https://pccs.example:8081)')
    .option('--pcs [url]', 'Intel PCS (default https://api.trustedservices.intel.com)')
    .option('--thim <url>', 'Azure THIM / acccache base URL (e.g. https://global.acccache.azure.net)')
    .option('--pck-chain <file>', 'PEM PCK certificate (chain) for quotes with certification data types 1-4')
    .option('--insecure-tls', 'accept a self-signed server certificate (PCCS default installs)')
    .option('--timeout-ms <n>', 'per-request timeout', '15000')
    .action(
      action(async (file: string, flags: FetchFlags) => {
        const sources = [flags.pccs !== undefined, flags.pcs !== undefined, flags.thim !== undefined].filter(Boolean).length;
        if (sources !== 1) throw new UsageError('give exactly one of --pccs URL, --pcs [URL], --thim URL');
        for (const [name, v] of [['--pccs', flags.pccs], ['--thim', flags.thim], ['--pcs', typeof flags.pcs === 'string' ? flags.pcs : undefined]] as const) urlFlag(name, v);
        const timeoutMs = Number(flags.timeoutMs);
        if (!Number.isInteger(timeoutMs) || timeoutMs <= 0) throw new UsageError('--timeout-ms: expected a positive integer');
        const http = { timeoutMs, ...(flags.insecureTls ? { insecureTls: true } : {}) };
        const source: CollateralSource =
          flags.pccs !== undefined
            ? { kind: 'pccs', url: flags.pccs }
            : flags.thim !== undefined
              ? { kind: 'thim', url: flags.thim }
              : { kind: 'pcs', ...(typeof flags.pcs === 'string' ? { url: flags.pcs } : {}) };
        const { provider } = collateralProviderFor(source, http);
        const pckCertChain = flags.pckChain !== undefined ? readFileOrUsage(flags.pckChain, '--pck-chain').toString('utf8') : undefined;
        const request = new QuoteVerifier().collateralRequest(readQuoteFile(file), pckCertChain);
        const c = await provider.getCollateral(request);
        try {
          writeFileSync(flags.out, serializeCollateral(c));
        } catch (e) {
          throw new KubeSgxError('OUTPUT_WRITE_FAILED', `--out: cannot write ${flags.out}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
        }
        printJson({ out: flags.out, ...request });
      }),
    );
}
