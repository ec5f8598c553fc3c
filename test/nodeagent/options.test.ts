/** The node agent's options schema is the single source of its defaults and bounds, for `kube-sgx node-agent` and startNodeAgent(). */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { ENCLAVE_RESOURCE, LEGACY_EPC_RESOURCE } from '../../src/names.js';
import { startNodeAgent } from '../../src/nodeagent/agent.js';
import { NODE_AGENT_DEFAULTS, parseNodeAgentOptions } from '../../src/nodeagent/options.js';
import { silentLogger } from '../../src/ops/log.js';

const optionDefault = (cmd: Command, flag: string): unknown => cmd.options.find((o) => o.long === flag)?.defaultValue;

describe('node agent options schema', () => {
  test('the CLI shows and passes the schema defaults', async () => {
    const cmd = (await buildProgram('node-agent')).commands.find((c) => c.name() === 'node-agent')!;
    const o = parseNodeAgentOptions({});
    assert.equal(optionDefault(cmd, '--host-root'), o.hostRoot);
    assert.equal(optionDefault(cmd, '--kubelet-dir'), o.kubeletDir);
    assert.equal(Number(optionDefault(cmd, '--enclave-slots')), o.enclaveSlots);
    assert.equal(Number(optionDefault(cmd, '--provision-slots')), o.provisionSlots);
    assert.equal(Number(optionDefault(cmd, '--discovery-interval')), o.discoveryIntervalMs);
    assert.deepEqual(o, { ...NODE_AGENT_DEFAULTS, kubeletDir: '/var/lib/kubelet/device-plugins', enclaveSlots: 110, provisionSlots: 110, discoveryIntervalMs: 5000 });
  });

  test('the resource list is parsed once, from CLI text or names; bad values name the flag', () => {
    assert.deepEqual(parseNodeAgentOptions({ resources: 'epc-mib, enclave,enclave' }).resources, [LEGACY_EPC_RESOURCE, ENCLAVE_RESOURCE]);
    assert.deepEqual(parseNodeAgentOptions({ resources: [ENCLAVE_RESOURCE] }).resources, [ENCLAVE_RESOURCE]);
    assert.equal(parseNodeAgentOptions({ enclaveSlots: '7' }).enclaveSlots, 7);
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ resources: 'epc-mib,gpu' }, /^--resources: unknown SGX resource "gpu"/],
      [{ resources: ' , ' }, /^--resources: resource list is empty/],
      [{ enclaveSlots: '0' }, /^--enclave-slots: must be between 1 and 100000/],
      [{ provisionSlots: 'many' }, /^--provision-slots: expected an integer/],
      [{ epcBytes: '-1' }, /^--epc-bytes: expected an integer/],
      [{ discoveryIntervalMs: 50 }, /^--discovery-interval: must be between 100/],
      [{ metricsAddr: 'localhost' }, /^--metrics-addr: expected HOST:PORT, got "localhost"/],
      [{ pollMs: 0 }, /^pollMs: must be between 1/],
      [{ nope: 1 }, /nope/],
    ];
    for (const [input, message] of bad) assert.throws(() => parseNodeAgentOptions(input), { code: 'NODE_AGENT_OPTIONS_INVALID', message }, JSON.stringify(input));
  });

  test('startNodeAgent applies the same schema before it discovers or serves anything', async () => {
    await assert.rejects(startNodeAgent({ hostRoot: '/nonexistent', enclaveSlots: 0, nodeUpdate: false, logger: silentLogger }), { code: 'NODE_AGENT_OPTIONS_INVALID', path: ['enclaveSlots'], message: /^--enclave-slots:/ });
  });
});
