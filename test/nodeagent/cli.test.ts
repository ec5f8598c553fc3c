/** `kube-sgx node-agent` as a process: serves, registers, reports, stops on SIGTERM. */
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { readdir } from 'node:fs/promises';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { ENCLAVE_RESOURCE, LEGACY_EPC_RESOURCE } from '../../src/names.js';
import { makeFakeHost, tempDir, removeDir, MiB } from '../node/fake-host.js';

const CLI = join(process.cwd(), 'src', 'cli', 'main.ts');
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

describe('kube-sgx node-agent', () => {
  test('runs, registers, serves /status, and shuts down cleanly on SIGTERM', async () => {
    const root = await tempDir();
    dirs.push(root);
    const hostRoot = await makeFakeHost(join(root, 'h'), { epc: { 0: 32 * MiB }, devices: ['dev/sgx_enclave', 'dev/sgx_provision'] });
    const kubeletDir = join(root, 'k');
    const kubelet = await KubeletStandIn.start({ dir: kubeletDir });
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', CLI, 'node-agent', '--host-root', hostRoot, '--kubelet-dir', kubeletDir, '--no-node-update', '--resources', 'epc-mib,enclave', '--enclave-slots', '7', '--metrics-addr', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: 'info', NODE_TEST_CONTEXT: '' } },
    );
    let stderr = '';
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      await kubelet.waitFor(() => kubelet.resource(ENCLAVE_RESOURCE)?.healthy === 7 && kubelet.resource(LEGACY_EPC_RESOURCE)?.healthy === 32, 60000, 'CLI registration');
      assert.equal(kubelet.resource('sgx.intel.com/provision'), undefined);
      const t0 = Date.now();
      while (!/"url":"http/.test(stderr) && Date.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 50));
      const url = /"url":"(http:\/\/[^"]+)"/.exec(stderr)?.[1];
      assert.ok(url, 'ops server URL logged');
      const st = (await (await fetch(url + '/status')).json()) as { plugins: { resource: string; state: string }[] };
      assert.deepEqual(st.plugins.map((p) => p.state), ['registered', 'registered']);
      assert.equal((await fetch(url + '/readyz')).status, 200);
      // logs are JSON lines
      for (const line of stderr.trim().split('\n')) assert.doesNotThrow(() => JSON.parse(line), line);
    } finally {
      child.kill('SIGTERM');
      assert.equal(await exited, 0, stderr);
      await kubelet.stop();
    }
    assert.deepEqual(await readdir(kubeletDir), [], 'plugin sockets removed (and the stand-in removed kubelet.sock)');
  });

  test('bad flags exit 2 with a JSON error', () => {
    // One process only: each spawn loads the whole CLI (seconds on a busy machine).
    for (const args of [['--resources', 'epc,bogus']]) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', CLI, 'node-agent', '--no-node-update', '--kubelet-dir', '/nonexistent-ksgx', ...args], { encoding: 'utf8' });
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stdout}${r.stderr}`);
      const out = JSON.parse(r.stdout) as { error: { code: string } };
      assert.equal(out.error.code, 'USAGE');
    }
  });
});
