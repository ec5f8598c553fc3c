/** `kube-sgx attestation-service`: flags → startAttestationService options; runs until SIGINT/SIGTERM. */
import type { Command } from 'commander';
import { startAttestationService, type AttestationServiceOptions } from '../service/index.js';
import { action, parseIntFlag, printJson, untilSignal, UsageError } from './io.js';

interface ServiceFlags {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  dataDir?: string;
  collateralDir?: string;
  pccs?: string;
  simulation?: boolean;
  platform?: string;
  store: string;
  namespace?: string;
  adminTokenFile?: string;
  kekFile?: string;
  issuer?: string;
  rateLimit: string;
}

export function registerAttestationServiceCommand(parent: Command): void {
  parent
    .command('attestation-service')
    .description('MAA-compatible attestation service: quotes in, signed tokens out; policies; secret release to attested enclaves')
    .requiredOption('--listen <host:port>', 'address to serve on', '127.0.0.1:8443')
    .option('--tls-cert <file>', 'TLS certificate (PEM); with --tls-key serves HTTPS')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--data-dir <dir>', 'SQLite state directory (signing key, policies, secrets); omitted = in memory')
    .option('--collateral-dir <dir>', 'offline collateral directory (collateral JSON files)')
    .option('--pccs <url>', 'PCCS base URL for collateral')
    .option('--simulation', 'trust the simulator root CA of --platform; tokens say x-kube-sgx-simulated: true')
    .option('--platform <dir>', 'simulated platform directory (with --simulation)')
    .option('--store <kind>', 'sqlite | kubernetes', 'sqlite')
    .option('--namespace <ns>', 'namespace for --store kubernetes (default: the pod\'s namespace)')
    .option('--admin-token-file <file>', 'file holding the admin bearer token (else $KUBE_SGX_ADMIN_TOKEN; none = admin API disabled)')
    .option('--kek-file <file>', 'key-encryption key for secrets at rest (32 bytes raw/hex/base64; else $KUBE_SGX_KEK)')
    .option('--issuer <url>', 'external base URL used as token iss and jku (default: from --listen)')
    .option('--rate-limit <n>', 'requests per second per client (0 = off)', '100')
    .action(
      action(async (f: ServiceFlags) => {
        if ((f.tlsCert === undefined) !== (f.tlsKey === undefined)) throw new UsageError('--tls-cert and --tls-key go together');
        if (f.collateralDir && f.pccs) throw new UsageError('--collateral-dir and --pccs exclude each other');
        if (f.simulation && !f.platform) throw new UsageError('--simulation needs --platform DIR');
        if (!f.simulation && f.platform) throw new UsageError('--platform needs --simulation');
        if (f.store !== 'sqlite' && f.store !== 'kubernetes') throw new UsageError(`--store must be sqlite or kubernetes, got ${JSON.stringify(f.store)}`);
        const rate = parseIntFlag('--rate-limit', f.rateLimit, 0, 1_000_000);
        const opts: AttestationServiceOptions = { listen: f.listen, store: f.store, rateLimit: { rate } };
        if (f.tlsCert && f.tlsKey) opts.tls = { certFile: f.tlsCert, keyFile: f.tlsKey };
        if (f.dataDir) opts.dataDir = f.dataDir;
        if (f.collateralDir) opts.collateralDir = f.collateralDir;
        if (f.pccs) opts.pccsUrl = f.pccs;
        if (f.simulation) opts.simulation = true;
        if (f.platform) opts.platformDir = f.platform;
        if (f.namespace) opts.kubernetes = { namespace: f.namespace };
        if (f.adminTokenFile) opts.adminTokenFile = f.adminTokenFile;
        if (f.kekFile) opts.kekFile = f.kekFile;
        if (f.issuer) opts.issuer = f.issuer;
        const svc = await startAttestationService(opts);
        // One line on stdout so scripts (and tests) learn the URL and kid.
        printJson({ url: svc.url, issuer: svc.issuer, kids: svc.kids, simulation: opts.simulation === true });
        await untilSignal();
        await svc.close();
      }),
    );
}
