/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), parsed
 * exactly with bigints so `10Mi`, `10M`, `1e6`, `0.5Gi` and `1000m` all have a
 * precise value. Grammar:
 *
 *   quantity ::= signedNumber suffix
 *   number   ::= digits | digits "." digits | digits "." | "." digits
 *   suffix   ::= "" | binarySI (Ki Mi Gi Ti Pi Ei) | decimalSI (m k M G T P E)
 *              | ("e" | "E") signedInteger
 *
 * Extended resources (EPC included) must be whole numbers: `1000m` = 1 is
 * accepted, `100m` and `0.5` are not (the API server says "must be an integer").
 */
import { KubeSgxError, type ErrorPath } from '../errors.js';

/** An exact rational value: numerator / denominator, denominator > 0. */
export interface Quantity {
  readonly num: bigint;
  readonly den: bigint;
  /** The string as written. */
  readonly text: string;
}

const BINARY: Record<string, bigint> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n,
};
const DECIMAL: Record<string, number> = { m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };

// sign, integer digits, fraction digits, suffix (binary | decimal | exponent)
const QUANTITY_RE = /^([+-]?)(\d*)(?:\.(\d*))?(Ki|Mi|Gi|Ti|Pi|Ei|[mkMGTPE]|[eE][+-]?\d+)?$/;
/** The largest value kube-sgx accepts for a byte count (int64, as Kubernetes stores it). */
export const MAX_INT64 = (1n << 63n) - 1n;
export const MIB = 1n << 20n;

export function parseQuantity(text: string, path: ErrorPath = []): Quantity {
  if (typeof text !== 'string') {
    throw new KubeSgxError('QUANTITY_MALFORMED', `expected a quantity string, got ${typeof text}`, { path });
  }
  const m = text.length <= 64 ? QUANTITY_RE.exec(text) : null;
  if (!m || (m[2] === '' && (m[3] ?? '') === '')) {
    throw new KubeSgxError(
      'QUANTITY_MALFORMED',
      `${JSON.stringify(text)} is not a Kubernetes quantity (write e.g. "10Mi", "10485760" or "64Gi")`,
      { path },
    );
  }
  const [, sign, intDigits, fracDigits = '', suffix = ''] = m;
  let num = BigInt((intDigits || '0') + fracDigits);
  let den = 10n ** BigInt(fracDigits.length);
  if (suffix in BINARY) {
    num *= BINARY[suffix]!;
  } else {
    const exp = suffix in DECIMAL ? DECIMAL[suffix]! : Number(suffix.slice(1));
    // Kubernetes itself caps exponents; anything this large is a typo, not a size.
    if (Math.abs(exp) > 40) {
      throw new KubeSgxError('QUANTITY_MALFORMED', `${JSON.stringify(text)}: exponent ${exp} is out of range`, { path });
    }
    if (exp >= 0) num *= 10n ** BigInt(exp);
    else den *= 10n ** BigInt(-exp);
  }
  if (sign === '-') num = -num;
  return { num, den, text };
}

/** The quantity as a whole number, or a typed error saying why it is not one. */
export function quantityToInteger(q: Quantity, path: ErrorPath = [], what = 'value'): bigint {
  if (q.num % q.den !== 0n) {
    throw new KubeSgxError(
      'QUANTITY_NOT_INTEGER',
      `${JSON.stringify(q.text)} is not a whole number of ${what}; extended resources must be integers (e.g. "${suggestInteger(q)}")`,
      { path },
    );
  }
  const n = q.num / q.den;
  if (n < 0n) {
    throw new KubeSgxError('QUANTITY_NEGATIVE', `${JSON.stringify(q.text)} is negative`, { path });
  }
  if (n > MAX_INT64) {
    throw new KubeSgxError('QUANTITY_TOO_LARGE', `${JSON.stringify(q.text)} exceeds the int64 range Kubernetes can store`, { path });
  }
  return n;
}

/** Parses and requires a non-negative integer (bytes, device slots, MiB units). */
export function parseIntegerQuantity(text: string, path: ErrorPath = [], what = 'value'): bigint {
  return quantityToInteger(parseQuantity(text, path), path, what);
}

function suggestInteger(q: Quantity): string {
  const ceil = (q.num + q.den - 1n) / q.den;
  return formatBinarySI(ceil < 0n ? 0n : ceil);
}

/** Canonical, exact, human form: the largest binary suffix that divides the value (`10Mi`), else plain digits. */
export function formatBinarySI(n: bigint): string {
  if (n === 0n) return '0';
  for (const unit of ['Ei', 'Pi', 'Ti', 'Gi', 'Mi', 'Ki'] as const) {
    const size = BINARY[unit]!;
    if (n % size === 0n) return `${n / size}${unit}`;
  }
  return n.toString();
}

/** Ceiling division for non-negative bigints. */
export function ceilDiv(a: bigint, b: bigint): bigint {
  return (a + b - 1n) / b;
}
