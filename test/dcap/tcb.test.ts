/** TCB level selection (Intel's rules) and TD 1.5 relaunch advice, on the real TDX TCB Info. */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseTcbInfo } from '../../src/dcap/tcb-info.js';
import { convergeTcbStatus, selectTcbLevel, selectTdxModule, tdRelaunchAdvice } from '../../src/dcap/tcb.js';
import { phalaCollateral, rejects } from './helpers.js';

const info = parseTcbInfo(phalaCollateral('sample/tdx_quote_collateral.json').tcb_info);
const pckComponents = [2, 2, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 0];
const svn = (...head: number[]) => Uint8Array.from([...head, ...new Array(16 - head.length).fill(0)]);

/** The converged status for a TEE_TCB_SVN, as verification computes it (QE UpToDate). */
function statusFor(teeTcbSvn: Uint8Array, pcesvn = 11) {
  const level = selectTcbLevel(info, pckComponents, pcesvn, teeTcbSvn);
  const module = selectTdxModule(info, teeTcbSvn);
  return convergeTcbStatus(level.tcbStatus, ['UpToDate', ...(module.level ? [module.level.tcbStatus] : [])]);
}

describe('TDX level selection', () => {
  test('bytes 0–1 belong to the module identity when the module version is set', () => {
    // tdxtcbcomponents[0] is 5 in every level; module SVN 4 < 5 must not matter
    assert.equal(statusFor(svn(4, 1, 2)), 'UpToDate');
  });
  test('with module version 0, all 16 TEE_TCB_SVN bytes are compared (and 4 < 5 matches no level)', () =>
    void rejects(() => selectTcbLevel(info, pckComponents, 11, svn(4, 0, 2)), 'TCB_NOT_SUPPORTED'));
  test('PCESVN picks the level: 11 → UpToDate, 5 → OutOfDate, 4 → none', () => {
    assert.equal(selectTcbLevel(info, pckComponents, 11, svn(4, 1, 2)).tcbStatus, 'UpToDate');
    assert.equal(selectTcbLevel(info, pckComponents, 5, svn(4, 1, 2)).tcbStatus, 'OutOfDate');
    void rejects(() => selectTcbLevel(info, pckComponents, 4, svn(4, 1, 2)), 'TCB_NOT_SUPPORTED');
  });
  test('module TDX_01 SVN 2 is OutOfDate, SVN 1 has no level, TDX_02 does not exist', () => {
    assert.equal(statusFor(svn(2, 1, 2)), 'OutOfDate');
    void rejects(() => selectTdxModule(info, svn(1, 1, 2)), 'TCB_NOT_SUPPORTED');
    void rejects(() => selectTdxModule(info, svn(4, 2, 2)), 'TDX_MODULE_MISMATCH', 'TDX_02');
  });
});

describe('TD report 1.5 relaunch advice (Intel QVL 2026)', () => {
  test('launched on module SVN 2 (OutOfDate), running SVN 4 (UpToDate) → TD_RELAUNCH_ADVISED', () => {
    assert.equal(tdRelaunchAdvice(statusFor(svn(2, 1, 2)), statusFor(svn(4, 1, 2))), 'TD_RELAUNCH_ADVISED');
  });
  test('configuration needed on either side → TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED', () => {
    assert.equal(tdRelaunchAdvice('OutOfDateConfigurationNeeded', 'UpToDate'), 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED');
    assert.equal(tdRelaunchAdvice('OutOfDate', 'ConfigurationAndSWHardeningNeeded'), 'TD_RELAUNCH_ADVISED_CONFIGURATION_NEEDED');
  });
  test('no advice when the launch TCB is fine, the current one is not better, or unknown', () => {
    assert.equal(tdRelaunchAdvice('UpToDate', 'UpToDate'), undefined);
    assert.equal(tdRelaunchAdvice('SWHardeningNeeded', 'UpToDate'), undefined);
    assert.equal(tdRelaunchAdvice('OutOfDate', 'OutOfDate'), undefined);
    assert.equal(tdRelaunchAdvice('OutOfDate', 'Revoked'), undefined);
    assert.equal(tdRelaunchAdvice('OutOfDate', undefined), undefined);
    assert.equal(tdRelaunchAdvice('Revoked', 'UpToDate'), undefined);
  });
});
