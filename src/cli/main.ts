/**
 * `kube-sgx` command line: parsing and wiring only. Each component registers
 * its commands from its own module, loaded below only when its command runs;
 * command groups shared by two components (`quote`) are created here and
 * handed to both.
 */
import { Command, CommanderError } from 'commander';
import { pathToFileURL } from 'node:url';
import { EXIT_USAGE } from './io.js';

/**
 * Registers one top-level command (or a few that share a module). Component modules are imported inside, so a process
 * loads only the component it runs: importing all of them costs about 1.3 s
 * and 45 MB of heap, which each DaemonSet pod would pay at start and keep for
 * its life (the webhook alone needs about 10 MB).
 */
type Loader = (program: Command) => Promise<void>;

const loadQuote: Loader = async (program) => {
  const [verifier, quoteHelper] = await Promise.all([import('./verifier.js'), import('./quotehelper.js')]);
  const quote = program.command('quote').description('inspect, verify and obtain SGX/TDX DCAP quotes');
  verifier.registerQuoteCommands(quote);
  quoteHelper.registerQuoteGetCommand(quote);
};

/** Every top-level command, in the order `kube-sgx --help` lists them. */
const COMMANDS: Readonly<Record<string, Loader>> = {
  quote: loadQuote,
  collateral: async (program) => (await import('./verifier.js')).registerCollateralCommands(program),
  sim: async (program) => (await import('./sim.js')).registerSimCommands(program),
  'node-agent': async (program) => (await import('./nodeagent.js')).registerNodeAgentCommand(program),
  'quote-helper': async (program) => (await import('./quotehelper.js')).registerQuoteHelperCommand(program),
  qgs: async (program) => (await import('./qgs.js')).registerQgsCommand(program),
  webhook: async (program) => (await import('./webhook.js')).registerWebhookCommands(program),
  doctor: async (program) => (await import('./doctor.js')).registerDoctorCommand(program),
  'attestation-service': async (program) => (await import('./service.js')).registerAttestationServiceCommand(program),
  demo: async (program) => (await import('./demo.js')).registerDemoCommand(program),
};

/** The top-level command on a command line, when it names one; otherwise (help, version, a typo) undefined. */
export function commandNamed(argv: readonly string[]): string | undefined {
  const first = argv[2];
  return first !== undefined && Object.hasOwn(COMMANDS, first) ? first : undefined;
}

/** The program with every command, or only with `command` (and what shares its module) when one is named. */
export async function buildProgram(command?: string): Promise<Command> {
  const program = new Command('kube-sgx')
    .description('Intel SGX for Kubernetes: device plugin, quote helper, webhook, DCAP verifier, attestation service, simulator')
    .version('0.1.0')
    .showHelpAfterError()
    // Options belong to the command they follow, so a subcommand (e.g. attestation-service rotate-key) may reuse its parent's option names.
    .enablePositionalOptions()
    .exitOverride();

  const loaders = command !== undefined && Object.hasOwn(COMMANDS, command) ? [COMMANDS[command]!] : [...new Set(Object.values(COMMANDS))];
  for (const load of loaders) await load(program);

  // Subcommands inherit exitOverride so usage errors reach main() below.
  const inherit = (cmd: Command) => {
    for (const sub of cmd.commands) {
      sub.exitOverride();
      inherit(sub);
    }
  };
  inherit(program);
  return program;
}

export async function main(argv: string[]): Promise<void> {
  const program = await buildProgram(commandNamed(argv));
  try {
    await program.parseAsync(argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and version "errors" are successful exits
      process.exitCode = e.code === 'commander.helpDisplayed' || e.code === 'commander.version' || e.code === 'commander.help' ? 0 : EXIT_USAGE;
      return;
    }
    throw e;
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv).catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}
