/**
 * The JMESPath subset behind MAA policy 1.2's JmesPath(): cases from the
 * JMESPath specification's examples and the query shapes Azure's published
 * 1.2 policies use, evaluated against documents written here, plus the
 * refusals (syntax, unsupported) and the work budget.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { KubeSgxError } from '../../src/errors.js';
import { parseJmesPath, searchJmesPath, type Json } from '../../src/service/policy/jmespath.js';

const search = (query: string, data: Json): Json => searchJmesPath(parseJmesPath(query), data, () => undefined);

function refusal(query: string): KubeSgxError {
  try {
    parseJmesPath(query);
  } catch (e) {
    assert.ok(e instanceof KubeSgxError);
    return e;
  }
  assert.fail(`expected ${query} to be refused`);
}

describe('JMESPath subset', () => {
  test('fields, sub-expressions, indexes, slices', () => {
    const doc: Json = { a: { b: { c: 'x' } }, list: [0, 1, 2, 3, 4, 5], 'odd key': 7 };
    assert.equal(search('a.b.c', doc), 'x');
    assert.equal(search('a.nope.c', doc), null);
    assert.equal(search('"odd key"', doc), 7);
    assert.equal(search('list[2]', doc), 2);
    assert.equal(search('list[-1]', doc), 5);
    assert.equal(search('list[10]', doc), null);
    assert.deepEqual(search('list[1:3]', doc), [1, 2]);
    assert.deepEqual(search('list[::2]', doc), [0, 2, 4]);
    assert.deepEqual(search('list[::-1]', doc), [5, 4, 3, 2, 1, 0]);
    assert.deepEqual(search('list[-2:]', doc), [4, 5]);
    // Own properties only: Object.prototype is not part of any document.
    assert.equal(search('toString', doc), null);
    assert.equal(search('a.constructor', doc), null);
  });

  test('projections, flatten, filters, pipes (the specification\'s semantics)', () => {
    const people: Json = { people: [{ first: 'James', age: 55 }, { first: 'Jacob', age: 12 }, { first: 'Jayden' }, { missing: 'different' }], foo: { bar: [[1, 2], [3, [4]]] } };
    assert.deepEqual(search('people[*].first', people), ['James', 'Jacob', 'Jayden']);
    assert.deepEqual(search('people[?age > `20`].first', people), ['James']);
    assert.equal(search('people[*].first | [0]', people), 'James');
    // Without the pipe, [0] applies to each projected element (strings): nothing.
    assert.deepEqual(search('people[*].first[0]', people), []);
    assert.deepEqual(search('foo.bar[]', people), [1, 2, 3, [4]]);
    assert.deepEqual(search('foo.bar[][]', people), [1, 2, 3, 4]);
    assert.deepEqual(search('*.bar', { a: { bar: 1 }, b: { bar: 2 }, c: {} }), [1, 2]);
    assert.deepEqual(search('people[?first == \'Jacob\'] | [0].age', people), 12);
    assert.deepEqual(search('people[*].[first, age]', people), [['James', 55], ['Jacob', 12], ['Jayden', null], [null, null]]);
    assert.deepEqual(search('people[0].{name: first, years: age}', people), { name: 'James', years: 55 });
    assert.equal(search('people[0] | @.first', people), 'James');
  });

  test('comparisons, truthiness, && || !, literals', () => {
    assert.equal(search('a == `1`', { a: 1 }), true);
    assert.equal(search('a == \'1\'', { a: 1 }), false);
    assert.equal(search('a < `2`', { a: 1 }), true);
    assert.equal(search('a < `2`', { a: 'x' }), null);
    assert.equal(search('a == `{"x": [1]}`', { a: { x: [1] } }), true);
    assert.deepEqual(search('a || b', { a: [], b: 'fallback' }), 'fallback');
    assert.equal(search('a && b', { a: 0, b: 'both' }), 'both'); // 0 is truthy in JMESPath
    assert.equal(search('!a', { a: '' }), true);
    assert.equal(search('`null`', {}), null);
    // Raw strings: \' is a quote and \\ one backslash (JEP 12a; Azure's samples write Windows paths so); other escapes stay.
    assert.equal(search(String.raw`'it\'s'`, {}), "it's");
    assert.equal(search(String.raw`'\\windows\\wd.sys'`, {}), String.raw`\windows\wd.sys`);
    assert.equal(search(String.raw`'a\nb'`, {}), String.raw`a\nb`);
  });

  test('functions', () => {
    assert.equal(search('length(@)', [1, 2, 3]), 3);
    assert.equal(search('length(s)', { s: 'héllo' }), 5);
    assert.equal(search('contains(a, `2`)', { a: [1, 2] }), true);
    assert.equal(search("starts_with(s, 'ab')", { s: 'abc' }), true);
    assert.equal(search("equals_ignore_case(p, '\\WINDOWS\\wdboot.sys')", { p: '\\windows\\WdBoot.sys' }), true);
    assert.deepEqual(search('keys(@)', { x: 1, y: 2 }), ['x', 'y']);
    assert.equal(search('max(@)', [3, 9, 1]), 9);
    assert.equal(search("join(', ', @)", ['a', 'b']), 'a, b');
    assert.equal(search('not_null(a, b, `3`)', { b: 2 }), 2);
    assert.equal(search('to_number(\'42\')', {}), 42);
    assert.throws(() => search('length(`3`)', {}), (e: unknown) => e instanceof KubeSgxError && e.code === 'POLICY_EVALUATION_ERROR');
  });

  test('the query shapes of Azure\'s published 1.2 policies', () => {
    const log: Json = {
      Events: [
        { EventSeq: 1, PcrIndex: 7, EventTypeString: 'EV_EFI_VARIABLE_DRIVER_CONFIG', ProcessedData: { VariableGuid: '8BE4DF61-93CA-11D2-AA0D-00E098032B8C', UnicodeName: 'SecureBoot', VariableData: 'AQ' } },
        { EventSeq: 2, PcrIndex: 7, EventTypeString: 'EV_EFI_VARIABLE_DRIVER_CONFIG', ProcessedData: { VariableGuid: '8BE4DF61-93CA-11D2-AA0D-00E098032B8C', UnicodeName: 'PK', VariableData: 'ZZ' } },
        { EventSeq: 3, PcrIndex: 12, EventTypeString: 'EV_EVENT_TAG', ProcessedData: { EVENT_TRUSTBOUNDARY: { EVENT_CODEINTEGRITY: true, EVENT_BITLOCKER_UNLOCK: { Value: 0 }, EVENT_LOADEDMODULE_AGGREGATION: [{ EVENT_IMAGEVALIDATED: true, EVENT_FILEPATH: '\\Windows\\System32\\Drivers\\WdBoot.sys' }] } } },
        { EventSeq: 4, PcrIndex: 13, EventTypeString: 'EV_EVENT_TAG', ProcessedData: { EVENT_TRUSTBOUNDARY: { EVENT_CODEINTEGRITY: false, EVENT_BITLOCKER_UNLOCK: { Value: 2 } } } },
      ],
    };
    const efi = search("Events[?EventTypeString == 'EV_EFI_VARIABLE_DRIVER_CONFIG' && ProcessedData.VariableGuid == '8BE4DF61-93CA-11D2-AA0D-00E098032B8C']", log);
    assert.equal((efi as Json[]).length, 2);
    assert.equal(search("[?ProcessedData.UnicodeName == 'SecureBoot'] | length(@) == `1` && @[0].ProcessedData.VariableData == 'AQ'", efi), true);
    const tags = search('Events[? EventTypeString == \'EV_EVENT_TAG\' && (PcrIndex == `12` || PcrIndex == `13`)].ProcessedData.EVENT_TRUSTBOUNDARY', log);
    assert.deepEqual(search('[*].EVENT_CODEINTEGRITY', tags), [true, false]);
    assert.equal(search('[*].EVENT_BITLOCKER_UNLOCK | @[? Value != `0`].Value | @[0]', tags), 2);
    assert.equal(search('[*].EVENT_BITLOCKER_UNLOCK.Value | @[-1]', tags), 2);
    assert.equal(search("[*].EVENT_LOADEDMODULE_AGGREGATION[] | [? EVENT_IMAGEVALIDATED == `true` && (equals_ignore_case(EVENT_FILEPATH, '\\windows\\system32\\drivers\\wdboot.sys') || equals_ignore_case(EVENT_FILEPATH, '\\windows\\system32\\drivers\\wd\\wdboot.sys'))] | @ != `null`", tags), true);
    assert.deepEqual(search("Events[? EventTypeString == 'EV_EVENT_TAG' && PcrIndex == `13`] | length(@) == `1` && @[0] | @.{EventSeq:EventSeq, Code:ProcessedData.EVENT_TRUSTBOUNDARY.EVENT_CODEINTEGRITY}", log), { EventSeq: 4, Code: false });
  });

  test('malformed and unsupported queries are refused with their own codes and offsets', () => {
    let e = refusal('a[');
    assert.equal(e.code, 'POLICY_JMESPATH_SYNTAX');
    e = refusal('a ==');
    assert.equal(e.code, 'POLICY_JMESPATH_SYNTAX');
    e = refusal('sort_by(people, &age)');
    assert.equal(e.code, 'POLICY_JMESPATH_UNSUPPORTED');
    assert.equal((e.details as { queryOffset: number }).queryOffset, 7);
    e = refusal('nosuchfn(@)');
    assert.equal(e.code, 'POLICY_JMESPATH_SYNTAX');
    assert.match(e.message, /unknown function nosuchfn/);
    e = refusal('`{bad json`');
    assert.equal(e.code, 'POLICY_JMESPATH_SYNTAX');
    e = refusal("'unterminated");
    assert.match(e.message, /unterminated raw string/);
  });

  test('every node visited is charged to the budget', () => {
    let steps = 0;
    const big: Json = { xs: Array.from({ length: 1000 }, (_, i) => ({ v: i })) };
    searchJmesPath(parseJmesPath('xs[?v > `500`].v'), big, (n) => (steps += n));
    assert.ok(steps >= 2000, `${steps} steps`);
  });
});

describe('JMESPath nesting is bounded', () => {
  test('deep queries and deep literals are refused typed, never a stack overflow', () => {
    for (const q of ['('.repeat(20_000) + 'a' + ')'.repeat(20_000), '!'.repeat(20_000) + 'a', Array.from({ length: 5_000 }, () => 'a').join('.'), '`' + '['.repeat(5_000) + ']'.repeat(5_000) + '`']) {
      const e = refusal(q);
      assert.equal(e.code, 'POLICY_JMESPATH_UNSUPPORTED', e.message);
    }
    // A modest depth is fine.
    assert.equal(search(Array.from({ length: 50 }, () => 'a').join('.'), {}), null);
    assert.deepEqual(search('`{"t": [[1]]}`', {}), { t: [[1]] });
  });
});
