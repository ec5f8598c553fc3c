/**
 * The demo's runner and glue in-process: step order, failure naming the step,
 * skipped steps, abort in the middle, cleanups in reverse order that never
 * throw, and the JSON patch applier the demo uses for the webhook's patch.
 */
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { Cleanups, runSteps, type DemoStep } from '../../src/demo/runner.js';
import { applyJsonPatch } from '../../src/demo/jsonpatch.js';
import { KubeSgxError } from '../../src/errors.js';

const ok = (id: string, log: string[]): DemoStep<null> => ({ id, title: `step ${id}`, run: async () => (log.push(id), { proved: `${id} works` }) });

describe('runSteps', () => {
  test('runs in order and reports what each step proved', async () => {
    const log: string[] = [];
    const r = await runSteps([ok('a', log), ok('b', log)], null, new AbortController().signal);
    assert.deepEqual(log, ['a', 'b']);
    assert.deepEqual(r.map((x) => [x.id, x.status, x.proved]), [['a', 'passed', 'a works'], ['b', 'passed', 'b works']]);
  });

  test('a failure names the step and why; later steps are skipped, not run', async () => {
    const log: string[] = [];
    const bad: DemoStep<null> = { id: 'x', title: 'step x', run: () => Promise.reject(new KubeSgxError('DEMO_PATCH_FAILED', 'the widget is broken')) };
    const r = await runSteps([ok('a', log), bad, ok('c', log)], null, new AbortController().signal);
    assert.deepEqual(log, ['a']);
    assert.equal(r[1].status, 'failed');
    assert.deepEqual(r[1].error, { code: 'DEMO_PATCH_FAILED', message: 'the widget is broken' });
    assert.equal(r[2].status, 'skipped');
    assert.match(r[2].reason ?? '', /step x" failed/);
  });

  test('a plain Error becomes DEMO_STEP_FAILED with its message', async () => {
    const r = await runSteps([{ id: 'y', title: 'y', run: () => Promise.reject(new Error('boom')) }], null, new AbortController().signal);
    assert.deepEqual(r[0].error, { code: 'DEMO_STEP_FAILED', message: 'boom' });
  });

  // The step never settles: runSteps returning at all shows the abort abandoned it (the timeout turns a hang into a failure).
  test('abort during a step abandons it at once and skips the rest', { timeout: 60_000 }, async () => {
    const ac = new AbortController();
    const hang: DemoStep<null> = { id: 'h', title: 'hangs', run: () => new Promise(() => setTimeout(() => ac.abort('SIGINT'), 20)) };
    const log: string[] = [];
    const r = await runSteps([hang, ok('after', log)], null, ac.signal);
    assert.deepEqual(r.map((x) => x.status), ['aborted', 'skipped']);
    assert.deepEqual(log, []);
  });
});

describe('Cleanups', () => {
  test('run last-registered first, collect failures and timeouts, never throw', async () => {
    const c = new Cleanups();
    const order: string[] = [];
    c.add('first', () => void order.push('first'));
    c.add('fails', () => {
      throw new Error('cannot stop');
    });
    c.add('hangs', () => new Promise<void>(() => {}));
    c.add('last', async () => void order.push('last'));
    const failures = await c.runAll(100);
    assert.deepEqual(order, ['last', 'first']);
    assert.deepEqual(failures.map((f) => f.what), ['hangs', 'fails']);
    assert.match(failures[0].error, /timed out/);
    assert.throws(() => c.add('late', () => {}), /after cleanup ran/);
  });
});

describe('applyJsonPatch', () => {
  test('add / replace / remove on objects and arrays, leaving the input unchanged', () => {
    const doc = { a: { b: [1, 2] }, c: 1 };
    const out = applyJsonPatch(doc, [
      { op: 'add', path: '/a/b/-', value: 3 },
      { op: 'add', path: '/a/x~1y', value: 'slash' },
      { op: 'replace', path: '/c', value: 2 },
      { op: 'remove', path: '/a/b/0' },
    ]);
    assert.deepEqual(out, { a: { b: [2, 3], 'x/y': 'slash' }, c: 2 });
    assert.deepEqual(doc, { a: { b: [1, 2] }, c: 1 });
  });

  test('missing parents and members are errors', () => {
    assert.throws(() => applyJsonPatch({}, [{ op: 'add', path: '/a/b', value: 1 }]), /DEMO_PATCH_FAILED|no member a/);
    assert.throws(() => applyJsonPatch({ a: 1 }, [{ op: 'replace', path: '/b', value: 1 }]), /no member b/);
    assert.throws(() => applyJsonPatch({ a: [] }, [{ op: 'remove', path: '/a/0' }]), /bad array index/);
  });
});
