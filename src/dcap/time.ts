/**
 * One verification time `t` for every check, in whole seconds (as Intel's
 * QvE). Every window is closed at both ends — notBefore/thisUpdate/issueDate ≤ t
 * ≤ notAfter/nextUpdate — and a failure says which end and which item.
 */
import { KubeSgxError, type ErrorCode } from '../errors.js';

export interface TimeWindow {
  what: string;
  notBefore: number;
  notAfter: number;
  expiredCode: ErrorCode;
  notYetValidCode: ErrorCode;
}

export function wholeSeconds(ms: number): number {
  return Math.floor(ms / 1000) * 1000;
}

export function checkWindows(windows: ReadonlyArray<TimeWindow>, t: number): void {
  for (const w of windows) {
    if (t < w.notBefore) {
      throw new KubeSgxError(w.notYetValidCode, `${w.what} is not valid before ${new Date(w.notBefore).toISOString()} (verification time ${new Date(t).toISOString()})`, {
        details: { what: w.what, notBefore: new Date(w.notBefore).toISOString(), at: new Date(t).toISOString() },
      });
    }
    if (t > w.notAfter) {
      throw new KubeSgxError(w.expiredCode, `${w.what} expired at ${new Date(w.notAfter).toISOString()} (verification time ${new Date(t).toISOString()})`, {
        details: { what: w.what, notAfter: new Date(w.notAfter).toISOString(), at: new Date(t).toISOString() },
      });
    }
  }
}

export function earliestExpiry(windows: ReadonlyArray<TimeWindow>): number {
  let min = Infinity;
  for (const w of windows) min = Math.min(min, w.notAfter);
  return min;
}
