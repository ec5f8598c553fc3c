/**
 * The CLI loads only the component a command line names (see COMMANDS in
 * src/cli/main.ts), and still knows every command when none is named.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildProgram, commandNamed } from '../../src/cli/main.js';

const ALL = ['quote', 'collateral', 'sim', 'node-agent', 'quote-helper', 'qgs', 'webhook', 'doctor', 'attestation-service', 'demo'];

test('with no command named, every command is registered, in help order', async () => {
  const program = await buildProgram();
  assert.deepEqual(program.commands.map((c) => c.name()), ALL);
});

test('a named command registers only itself and what shares its module', async () => {
  // doctor has its own module (src/cli/doctor.ts) since it moved out of the webhook (issue 16).
  assert.deepEqual((await buildProgram('webhook')).commands.map((c) => c.name()), ['webhook']);
  assert.deepEqual((await buildProgram('doctor')).commands.map((c) => c.name()), ['doctor']);
  assert.deepEqual((await buildProgram('node-agent')).commands.map((c) => c.name()), ['node-agent']);
  assert.deepEqual((await buildProgram('qgs')).commands.map((c) => c.name()), ['qgs']);
  const quote = await buildProgram('quote');
  assert.deepEqual(quote.commands.map((c) => c.name()), ['quote']);
  assert.deepEqual(quote.commands[0]!.commands.map((c) => c.name()), ['inspect', 'verify', 'get', 'target-info']);
});

test('commandNamed reads the first argument only when it is a command', () => {
  assert.equal(commandNamed(['node', 'kube-sgx', 'webhook', '--listen', ':8443']), 'webhook');
  assert.equal(commandNamed(['node', 'kube-sgx', 'attestation-service', 'rotate-key']), 'attestation-service');
  for (const other of [[], ['--help'], ['help', 'webhook'], ['--version'], ['webhok'], ['constructor'], ['__proto__'], ['toString']]) {
    assert.equal(commandNamed(['node', 'kube-sgx', ...other]), undefined, other.join(' '));
  }
  // An unknown name still gets the full program, so commander can say what exists.
  return buildProgram('constructor').then((p) => assert.equal(p.commands.length, ALL.length));
});

test('the CLI process: top-level help lists every command; a typo is a usage error naming the command', () => {
  const main = fileURLToPath(new URL('../../src/cli/main.ts', import.meta.url));
  const run = (...args: string[]) => spawnSync(process.execPath, ['--import', 'tsx', main, ...args], { encoding: 'utf8', timeout: 60_000 });
  const help = run('--help');
  assert.equal(help.status, 0, help.stderr);
  for (const name of ALL) assert.match(help.stdout, new RegExp(`^  ${name}\\b`, 'm'), name);
  const typo = run('webhok');
  assert.equal(typo.status, 2, typo.stderr);
  assert.match(typo.stderr, /unknown command 'webhok'/);
  const sub = run('webhook', 'certs', '--help');
  assert.equal(sub.status, 0, sub.stderr);
  assert.match(sub.stdout, /--dns-name/);
});
