/**
 * `kube-sgx` command line: parsing and wiring only. Each component registers
 * its commands from its own module below; command groups shared by two
 * components (`quote`) are created here and handed to both.
 */
import { Command, CommanderError } from 'commander';
import { pathToFileURL } from 'node:url';
import { EXIT_USAGE } from './io.js';
import { registerQuoteCommands, registerCollateralCommands } from './verifier.js';
import { registerQuoteGetCommand, registerQuoteHelperCommand } from './quotehelper.js';
import { registerSimCommands } from './sim.js';
import { registerNodeAgentCommand } from './nodeagent.js';
import { registerWebhookCommands } from './webhook.js';
import { registerAttestationServiceCommand } from './service.js';
import { registerDemoCommand } from './demo.js';

export function buildProgram(): Command {
  const program = new Command('kube-sgx')
    .description('Intel SGX for Kubernetes: device plugin, quote helper, webhook, DCAP verifier, attestation service, simulator')
    .version('0.1.0')
    .showHelpAfterError()
    // Options belong to the command they follow, so a subcommand (e.g. attestation-service rotate-key) may reuse its parent's option names.
    .enablePositionalOptions()
    .exitOverride();

  const quote = program.command('quote').description('inspect, verify and obtain SGX/TDX DCAP quotes');
  registerQuoteCommands(quote);
  registerQuoteGetCommand(quote);
  registerCollateralCommands(program);
  registerSimCommands(program);
  registerNodeAgentCommand(program);
  registerQuoteHelperCommand(program);
  registerWebhookCommands(program);
  registerAttestationServiceCommand(program);
  registerDemoCommand(program);

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
  const program = buildProgram();
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
