/**
 * The quote-helper commands wired exactly as src/cli/main.ts wires them, but
 * without the other components' commands, so these CLI tests do not depend on
 * code this component does not own.
 */
import { Command, CommanderError } from 'commander';
import { EXIT_USAGE } from '../../src/cli/io.js';
import { registerQuoteGetCommand, registerQuoteHelperCommand } from '../../src/cli/quotehelper.js';

const program = new Command('kube-sgx').exitOverride();
const quote = program.command('quote').exitOverride();
registerQuoteGetCommand(quote);
registerQuoteHelperCommand(program);
for (const cmd of [...program.commands, ...quote.commands]) cmd.exitOverride();
try {
  await program.parseAsync(process.argv);
} catch (e) {
  if (!(e instanceof CommanderError)) throw e;
  process.exitCode = EXIT_USAGE;
}
