/** `kube-sgx sim pccs` and startSimPccs() share one options schema: its default is the CLI's, its errors name the flag. */
import { strict as assert } from 'node:assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildProgram } from '../../src/cli/main.js';
import { parseSimPccsOptions, SimPlatform, SIM_PCCS_DEFAULTS, startSimPccs } from '../../src/sim/index.js';

test('the CLI shows the schema default', async () => {
  const pccs = (await buildProgram('sim')).commands.find((c) => c.name() === 'sim')!.commands.find((c) => c.name() === 'pccs')!;
  assert.equal(pccs.options.find((o) => o.long === '--listen')?.defaultValue, parseSimPccsOptions({}).listen);
  assert.equal(parseSimPccsOptions({}).listen, SIM_PCCS_DEFAULTS.listen);
});

test('a bad listen address is SIM_BAD_ARGUMENT naming --listen, from the schema and from startSimPccs', async () => {
  for (const listen of ['8081', 'localhost', '127.0.0.1:99999', '']) {
    assert.throws(() => parseSimPccsOptions({ listen }), { code: 'SIM_BAD_ARGUMENT', path: ['listen'], message: /^--listen: expected HOST:PORT/ }, listen);
  }
  assert.throws(() => parseSimPccsOptions({ listen: '127.0.0.1:0', port: 1 }), { code: 'SIM_BAD_ARGUMENT' });
  const dir = mkdtempSync(join(tmpdir(), 'kube-sgx-pccs-options-'));
  try {
    const platform = await SimPlatform.open(join(dir, 'p'), { seed: 'pccs-options' });
    await assert.rejects(startSimPccs({ platform, listen: 'nonsense' }), { code: 'SIM_BAD_ARGUMENT', message: /^--listen: expected HOST:PORT, got "nonsense"/ });
    const served = await startSimPccs({ platform, listen: '127.0.0.1:0' });
    try {
      assert.equal((await fetch(`${served.url}/sgx/certification/v4/qe/identity`)).status, 200);
    } finally {
      await served.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
