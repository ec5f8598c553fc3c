/** `kube-sgx attestation-service`: flags → startAttestationService options; runs until SIGINT/SIGTERM. */
import cluster from 'node:cluster';
import { pathToFileURL } from 'node:url';
import { Command, CommanderError } from 'commander';
import { startAttestationService, prepareAttestationState, rotateServiceSigningKey } from '../service/server.js';
import { DEFAULT_KEY_ACTIVATION_DELAY_S, MAX_KEY_ACTIVATION_DELAY_S } from '../service/signer.js';
import { ATTESTATION_SERVICE_DEFAULTS, parseAttestationServiceOptions, parseRotateKeyOptions, type AttestationServiceSettings } from '../service/options.js';
import { action, hostPortFlag, parseIntFlag, printJson, untilSignal, usage } from './io.js';

interface ServiceFlags {
  listen: string;
  tlsCert?: string;
  tlsKey?: string;
  dataDir?: string;
  collateralDir?: string;
  pccs?: string;
  pcs?: string | true;
  thim?: string;
  qcnlConfig?: string;
  simulation?: boolean;
  platform?: string;
  store: string;
  namespace?: string;
  adminTokenFile?: string;
  policySigners?: string;
  kekFile?: string;
  issuer?: string;
  rateLimit: string;
  workers: string;
}

interface WorkerHello {
  url: string;
  issuer: string;
  kids: string[];
}

/**
 * --workers N: N processes (node:cluster) share the listening socket and the
 * state (SQLite file in --data-dir, or Kubernetes), so verification uses
 * every core. The primary creates the signing key and KEK once, forks,
 * prints one line, forwards SIGTERM/SIGINT and waits for the workers.
 */
async function runPrimary(opts: AttestationServiceSettings, n: number): Promise<void> {
  await prepareAttestationState(opts);
  const hellos: WorkerHello[] = [];
  let stopping = false;
  const fork = () => {
    const w = cluster.fork();
    w.on('message', (m: WorkerHello) => hellos.push(m));
    w.on('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`attestation-service worker ${w.process.pid} exited (${signal ?? code}); starting another\n`);
        fork();
      }
    });
  };
  for (let i = 0; i < n; i++) fork();
  while (hellos.length < n) await new Promise((r) => setTimeout(r, 20));
  printJson({ url: hellos[0]!.url, issuer: hellos[0]!.issuer, kids: hellos[0]!.kids, simulation: opts.simulation === true, workers: n });
  await untilSignal();
  stopping = true;
  const workers = Object.values(cluster.workers ?? {}).filter((w) => w !== undefined);
  await Promise.all(workers.map((w) => new Promise<void>((resolve) => {
    w.once('exit', () => resolve());
    w.process.kill('SIGTERM');
  })));
}

// Help shows the schema's defaults, so they are defined once (src/service/options.ts).
const D = ATTESTATION_SERVICE_DEFAULTS;

export function registerAttestationServiceCommand(parent: Command): void {
  const serviceCommand = parent
    .command('attestation-service')
    .description('MAA-compatible attestation service: quotes in, signed tokens out; policies; secret release to attested enclaves')
    .requiredOption('--listen <host:port>', 'address to serve on', D.listen)
    .option('--tls-cert <file>', 'TLS certificate (PEM); with --tls-key serves HTTPS; re-read when it changes')
    .option('--tls-key <file>', 'TLS private key (PEM)')
    .option('--data-dir <dir>', 'SQLite state directory (signing key, policies, secrets); omitted = in memory')
    .option('--collateral-dir <dir>', 'offline collateral directory (collateral JSON files)')
    .option('--pccs <url>', 'PCCS base URL for collateral')
    .option('--pcs [url]', 'Intel PCS v4 for collateral (default base URL: Intel\'s)')
    .option('--thim <url>', 'Azure THIM base URL for collateral (on Azure: the node-local endpoint)')
    .option('--qcnl-config <file>', 'collateral from the PCCS named in Intel\'s QCNL configuration (sgx_default_qcnl.conf: collateral_service, else pccs_url), the file the nodes\' quote provider reads')
    .option('--simulation', 'trust the simulator root CA of --platform; tokens say x-kube-sgx-simulated: true')
    .option('--platform <dir>', 'simulated platform directory (with --simulation)')
    .option('--store <kind>', 'sqlite | kubernetes', D.store)
    .option('--namespace <ns>', 'namespace for --store kubernetes (default: the pod\'s namespace)')
    .option('--admin-token-file <file>', 'file holding the admin bearer token (else $KUBE_SGX_ADMIN_TOKEN; none = admin API disabled)')
    .option('--kek-file <file>', 'key-encryption key for secrets at rest (32 bytes raw/hex/base64; else $KUBE_SGX_KEK)')
    .option('--policy-signers <file>', 'PEM policy-management certificates: Isolated trust model, policy changes must be JWS signed by one of them')
    .option('--issuer <url>', 'external base URL used as token iss and jku (default: from --listen)')
    .option('--rate-limit <n>', 'requests per second per client and worker (0 = off)', String(D.rateLimit))
    .option('--workers <n>', 'processes sharing the port and state (needs --data-dir or --store kubernetes)', String(D.workers))
    .action(
      action(async (f: ServiceFlags) => {
        hostPortFlag('--listen', f.listen);
        const opts = usage(() =>
          parseAttestationServiceOptions({
            listen: f.listen,
            ...(f.tlsCert !== undefined || f.tlsKey !== undefined ? { tls: { certFile: f.tlsCert, keyFile: f.tlsKey } } : {}),
            dataDir: f.dataDir,
            collateralDir: f.collateralDir,
            pccsUrl: f.pccs,
            pcsUrl: f.pcs === true ? '' : f.pcs,
            thimUrl: f.thim,
            qcnlConfigFile: f.qcnlConfig,
            simulation: f.simulation,
            platformDir: f.platform,
            store: f.store,
            ...(f.namespace !== undefined ? { kubernetes: { namespace: f.namespace } } : {}),
            adminTokenFile: f.adminTokenFile,
            policySignersFile: f.policySigners,
            kekFile: f.kekFile,
            issuer: f.issuer,
            rateLimit: { rate: f.rateLimit },
            workers: f.workers,
          }),
        );
        if (opts.workers > 1 && cluster.isPrimary) return runPrimary(opts, opts.workers);
        const svc = await startAttestationService(opts);
        if (cluster.isWorker) process.send?.({ url: svc.url, issuer: svc.issuer, kids: svc.kids } satisfies WorkerHello);
        // One line on stdout so scripts (and tests) learn the URL and kid.
        else printJson({ url: svc.url, issuer: svc.issuer, kids: svc.kids, simulation: opts.simulation === true });
        await untilSignal();
        // The primary forwards the signal too (and a terminal signals the whole group): ignore repeats while draining.
        if (cluster.isWorker) for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => undefined);
        await svc.close();
        // A worker's IPC channel would keep it alive after the server closed.
        if (cluster.isWorker) cluster.worker?.disconnect();
      }),
    );

  // rotate-key shares option names with the service (--data-dir, --store, …): they belong to whichever command precedes them.
  serviceCommand.enablePositionalOptions();
  serviceCommand
    .command('rotate-key')
    .description('add the next token-signing key to the service\'s store: in /certs at once, signing after --activate-after; the old key stays in /certs 8 h more')
    .option('--data-dir <dir>', 'the service\'s SQLite state directory')
    .option('--store <kind>', 'sqlite | kubernetes', D.store)
    .option('--namespace <ns>', 'namespace for --store kubernetes (default: the pod\'s namespace)')
    .option('--kek-file <file>', 'the service\'s key-encryption key (else $KUBE_SGX_KEK; with --data-dir, the generated one beside the data)')
    .option('--activate-after <seconds>', `seconds between publishing the key and signing with it, so replicas and relying parties refresh /certs (default ${DEFAULT_KEY_ACTIVATION_DELAY_S}; 0 with --revoke-previous)`)
    .option('--revoke-previous', 'suspected compromise: withdraw every earlier key at once (gone from /certs, its tokens refused) and sign with the new key now')
    .action(
      action(async (f: { dataDir?: string; store: string; namespace?: string; kekFile?: string; activateAfter?: string; revokePrevious?: boolean }) => {
        const state = usage(() =>
          parseRotateKeyOptions({ store: f.store, dataDir: f.dataDir, kekFile: f.kekFile, ...(f.namespace !== undefined ? { kubernetes: { namespace: f.namespace } } : {}) }),
        );
        // --revoke-previous signs at once; an explicit non-zero delay with it is refused by rotateSigningKey.
        const delayS =
          f.activateAfter !== undefined ? parseIntFlag('--activate-after', f.activateAfter, 0, MAX_KEY_ACTIVATION_DELAY_S) : f.revokePrevious ? 0 : DEFAULT_KEY_ACTIVATION_DELAY_S;
        printJson(await rotateServiceSigningKey(state, delayS * 1000, f.revokePrevious === true));
      }),
    );
}

/**
 * Direct entry (`node --import tsx src/cli/service.ts attestation-service …`):
 * the same command without loading every other component's CLI, for fast
 * start-up in tests, benches and --workers forks.
 */
if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const program = new Command('kube-sgx').enablePositionalOptions().exitOverride();
  registerAttestationServiceCommand(program);
  for (const c of program.commands) c.exitOverride();
  program.parseAsync(process.argv).catch((e: unknown) => {
    if (e instanceof CommanderError) process.exitCode = e.exitCode === 0 ? 0 : 2;
    else {
      console.error(e);
      process.exitCode = 1;
    }
  });
}
