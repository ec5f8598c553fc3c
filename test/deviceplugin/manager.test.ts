/**
 * The manager's injectable server factory: a server that cannot re-bind its
 * socket (a fault a real filesystem rarely gives on cue) must not stop the
 * reconcile loop; once it binds again the plugin registers again with the
 * kubelet (a real gRPC stand-in on a unix socket).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { unlink } from 'node:fs/promises';
import { DevicePluginManager, type DevicePluginServerFactory, type PluginServer } from '../../src/deviceplugin/manager.js';
import { DevicePluginServer } from '../../src/deviceplugin/server.js';
import { firstAvailable, type DevicePlugin } from '../../src/deviceplugin/plugin.js';
import { KubeletStandIn } from '../../src/demo/kubelet-stand-in.js';
import { tempDir, removeDir } from '../node/fake-host.js';

const plugin: DevicePlugin = {
  resourceName: 'example.com/widget',
  socketName: 'widget.sock',
  preferredAllocationAvailable: false,
  devices: (() => {
    const inv = [{ id: 'w0', healthy: true }];
    return () => inv;
  })(),
  reason: () => undefined,
  allocate: () => ({ envs: {}, mounts: [], devices: [], annotations: {}, cdi_devices: [] }),
  preferredAllocation: firstAvailable,
};

describe('DevicePluginManager server factory', () => {
  test('a server whose restart fails is retried on the next pass and registers again', async () => {
    const dir = await tempDir('ksgx-mgr-');
    const kubelet = await KubeletStandIn.start({ dir });
    let failRestarts = 2;
    let restartAttempts = 0;
    const made: PluginServer[] = [];
    const factory: DevicePluginServerFactory = (p, kubeletDir, logger, hooks) => {
      const real = new DevicePluginServer(p, kubeletDir, logger, hooks);
      const flaky: PluginServer = {
        plugin: real.plugin,
        socketPath: real.socketPath,
        get streamCount() {
          return real.streamCount;
        },
        get inventoryDevices() {
          return real.inventoryDevices;
        },
        get inventoryHealthy() {
          return real.inventoryHealthy;
        },
        get inventoryBytes() {
          return real.inventoryBytes;
        },
        refresh: () => real.refresh(),
        start: () => real.start(),
        stop: () => real.stop(),
        socketIntact: () => real.socketIntact(),
        restart: async () => {
          restartAttempts++;
          if (failRestarts > 0) {
            failRestarts--;
            await real.stop();
            throw new Error('bind failed (injected)');
          }
          await real.restart();
        },
      };
      made.push(flaky);
      return flaky;
    };
    const manager = new DevicePluginManager([plugin], { kubeletDir: dir, pollMs: 20, serverFactory: factory });
    try {
      await manager.start();
      assert.equal(made.length, 1, 'the factory made the one server');
      assert.equal(manager.servers[0], made[0]);
      await kubelet.waitFor(() => kubelet.registrationCount(plugin.resourceName) === 1, 10_000, 'first registration');
      await unlink(made[0]!.socketPath); // what a kubelet restart does to plugin sockets
      await kubelet.waitFor(() => kubelet.registrationCount(plugin.resourceName) === 2, 10_000, 're-registration after the failed restarts');
      assert.equal(restartAttempts, 3, 'two injected failures, then one real restart');
      assert.ok(await made[0]!.socketIntact(), 'socket bound again');
    } finally {
      await manager.stop();
      await kubelet.stop();
      await removeDir(dir);
    }
  });
});
