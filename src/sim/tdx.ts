/**
 * One call for a simulated TD quote: what a TD on a simulated TDX host gets
 * end to end (TDG.MR.REPORT, then the host's TD QE), with the collateral and
 * root a relying party needs to verify it.
 */
import type { Collateral } from '../dcap/collateral.js';
import { SCENARIO_STATUS, type TcbScenario } from './identity.js';
import { SimPlatform } from './platform.js';
import type { TdReportOptions } from './td.js';

export interface SimulateTdQuoteOptions extends TdReportOptions {
  /** an open platform, or its directory (created when missing) */
  platform: SimPlatform | string;
  /** when `platform` is a directory: scenario / seed / clock for creating or opening it */
  scenario?: TcbScenario;
  seed?: string;
  now?: Date;
}

export interface SimulatedTdQuote {
  quote: Buffer;
  /** the TDREPORT the quote was made from */
  tdReport: Buffer;
  quoteVersion: 4 | 5;
  /** TDX collateral: TCB Info id TDX, QE Identity id TD_QE */
  collateral: Collateral;
  /** the simulated root to trust (verify with `trustedRoots: [rootCaPem]`) */
  rootCaPem: string;
  /** the status verification gives for the platform's scenario */
  expectedStatus: (typeof SCENARIO_STATUS)[TcbScenario];
  platform: SimPlatform;
}

export async function simulateTdQuote(opts: SimulateTdQuoteOptions): Promise<SimulatedTdQuote> {
  const { platform: p, scenario, seed, now, ...report } = opts;
  const platform =
    typeof p === 'string'
      ? await SimPlatform.open(p, { ...(scenario !== undefined ? { scenario } : {}), ...(seed !== undefined ? { seed } : {}), ...(now !== undefined ? { now } : {}) })
      : p;
  const tdReport = platform.tdReport(report);
  const quote = platform.getTdQuote(tdReport);
  return {
    quote,
    tdReport,
    quoteVersion: report.quoteVersion ?? 4,
    collateral: platform.tdxCollateral(),
    rootCaPem: platform.rootCaPem,
    expectedStatus: SCENARIO_STATUS[platform.scenario],
    platform,
  };
}
