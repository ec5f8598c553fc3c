/** The attestation service's options schema is the single source of its defaults and rules, for the CLI and startAttestationService(). */
import { strict as assert } from 'node:assert';
import { describe, test } from 'node:test';
import type { Command } from 'commander';
import { buildProgram } from '../../src/cli/main.js';
import { ATTESTATION_SERVICE_DEFAULTS, parseAttestationServiceOptions } from '../../src/service/options.js';
import { assembleAttestationService, startAttestationService } from '../../src/service/server.js';
import { createDcapVerifier } from '../../src/service/dcap-verifier.js';
import { silentLogger } from '../../src/ops/log.js';

const optionDefault = (cmd: Command, flag: string): unknown => cmd.options.find((o) => o.long === flag)?.defaultValue;

describe('attestation service options schema', () => {
  test('the CLI shows and passes the schema defaults', async () => {
    const cmd = (await buildProgram('attestation-service')).commands.find((c) => c.name() === 'attestation-service')!;
    const o = parseAttestationServiceOptions({});
    assert.equal(optionDefault(cmd, '--listen'), o.listen);
    assert.equal(optionDefault(cmd, '--store'), o.store);
    assert.equal(Number(optionDefault(cmd, '--rate-limit')), o.rateLimit.rate);
    assert.equal(Number(optionDefault(cmd, '--workers')), o.workers);
    const rotate = cmd.commands.find((c) => c.name() === 'rotate-key')!;
    assert.equal(optionDefault(rotate, '--store'), ATTESTATION_SERVICE_DEFAULTS.store);
    assert.deepEqual({ listen: o.listen, store: o.store, rateLimit: o.rateLimit, workers: o.workers, shutdownGraceMs: o.shutdownGraceMs }, {
      listen: '127.0.0.1:8443', store: 'sqlite', rateLimit: { rate: 100 }, workers: 1, shutdownGraceMs: 10_000,
    });
  });

  test('numbers as numbers or as CLI text; bad values and combinations name the flag', () => {
    assert.equal(parseAttestationServiceOptions({ rateLimit: { rate: '7' } }).rateLimit.rate, 7);
    const bad: Array<[Record<string, unknown>, RegExp]> = [
      [{ rateLimit: { rate: 'ten' } }, /^--rate-limit: expected an integer/],
      [{ rateLimit: { rate: 2_000_000 } }, /^--rate-limit: must be between 0 and 1000000/],
      [{ workers: 65 }, /^--workers: must be between 1 and 64/],
      [{ workers: 2 }, /^--workers: --workers > 1 needs --data-dir/],
      [{ store: 'etcd' }, /^--store: --store must be sqlite or kubernetes, got "etcd"/],
      [{ simulation: true }, /^--simulation: --simulation needs --platform DIR/],
      [{ platformDir: '/p' }, /^--platform: --platform is only used with --simulation/],
      [{ pccsUrl: 'http://a', thimUrl: 'http://b' }, /^--thim: .*exclude each other/],
      [{ pccsUrl: 'pccs.example:8081' }, /^--pccs: expected an http\(s\) URL/],
      [{ issuer: 'not a url' }, /^--issuer: expected an http\(s\) URL/],
      [{ tls: { certFile: 'a' } }, /^--tls-cert\/--tls-key: --tls-cert and --tls-key go together/],
      [{ shutdownGraceMs: 1.5 }, /^shutdownGraceMs: expected an integer/],
      [{ nope: 1 }, /nope/],
    ];
    for (const [input, message] of bad) assert.throws(() => parseAttestationServiceOptions(input), { code: 'CONFIG_INVALID', message }, JSON.stringify(input));
    // '' is Intel's PCS; an injected verifier may mark tokens simulated without a platform.
    assert.equal(parseAttestationServiceOptions({ pcsUrl: '' }).pcsUrl, '');
    assert.equal(parseAttestationServiceOptions({ simulation: true, verifier: { verify: async () => assert.fail() } }).simulation, true);
  });

  test('startAttestationService and assembleAttestationService apply the same schema, before anything listens or opens', async () => {
    await assert.rejects(startAttestationService({ listen: '127.0.0.1:0', simulation: true, logger: silentLogger }), { code: 'CONFIG_INVALID', message: /^--simulation: --simulation needs --platform/, path: ['simulation'] });
    await assert.rejects(startAttestationService({ listen: '127.0.0.1:0', rateLimit: { rate: -5 }, logger: silentLogger }), { code: 'CONFIG_INVALID', path: ['rateLimit', 'rate'] });
    await assert.rejects(assembleAttestationService({ keyRefreshMs: 0, logger: silentLogger }, 'http://x'), { code: 'CONFIG_INVALID', message: /^keyRefreshMs: must be between 1/ });
  });

  test('createDcapVerifier refuses what the schema refuses, with the same error (one rule, fail closed)', async () => {
    const cases = [
      { simulation: true },
      { simulation: false, platformDir: '/p', collateralDir: '/c' },
      { simulation: false, pccsUrl: 'http://a', thimUrl: 'http://b' },
      { simulation: true, platformDir: '/p', collateralDir: '/c', pcsUrl: '' },
    ];
    for (const c of cases) {
      let schemaError: unknown;
      try {
        parseAttestationServiceOptions(c);
      } catch (e) {
        schemaError = e;
      }
      const { code, message, path } = schemaError as { code: string; message: string; path: unknown };
      assert.equal(code, 'CONFIG_INVALID', JSON.stringify(c));
      await assert.rejects(createDcapVerifier(c), { code, message, path }, JSON.stringify(c));
    }
  });
});
