/**
 * Tokens of the MAA attestation policy language (versions 1.0-1.2). Every
 * token carries its line and column so parse errors point at the source.
 */
import { KubeSgxError } from '../../errors.js';

export type TokenKind = 'ident' | 'string' | 'integer' | 'number' | 'punct' | 'eof';

export interface Token {
  kind: TokenKind;
  /** Identifier text, string contents (unescaped), digits, or the punctuation. */
  text: string;
  line: number;
  column: number;
}

// Longest first so "==" wins over "=" and "=>" over "=".
const PUNCT = ['=>', '==', '!=', '<=', '>=', '&&', '||', '=', '<', '>', '!', ';', ',', ':', '.', '(', ')', '[', ']', '{', '}'];

export function policyError(code: 'POLICY_SYNTAX' | 'POLICY_UNSUPPORTED', at: { line: number; column: number }, message: string): KubeSgxError {
  return new KubeSgxError(code, `line ${at.line}, column ${at.column}: ${message}`, { details: { line: at.line, column: at.column } });
}

export function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let col = 1;
  const advance = (n: number) => {
    for (let k = 0; k < n; k++) {
      if (src[i] === '\n') {
        line++;
        col = 1;
      } else col++;
      i++;
    }
  };
  while (i < src.length) {
    const ch = src[i]!;
    if (ch === ' ' || ch === '\t' || ch === '\r' || ch === '\n' || ch === '\uFEFF') {
      advance(1);
      continue;
    }
    // Line comments: MAA's published 1.2 sample policies use them. Block comments appear nowhere: refused.
    if (ch === '/' && src[i + 1] === '/') {
      let j = i;
      while (j < src.length && src[j] !== '\n') j++;
      advance(j - i);
      continue;
    }
    if (ch === '/' && src[i + 1] === '*') {
      throw policyError('POLICY_UNSUPPORTED', { line, column: col }, 'block comments /* */ are not part of the MAA policy language (use //)');
    }
    const start = { line, column: col };
    if (/[A-Za-z_$]/.test(ch)) {
      let j = i;
      while (j < src.length && /[A-Za-z0-9_$]/.test(src[j]!)) j++;
      out.push({ kind: 'ident', text: src.slice(i, j), ...start });
      advance(j - i);
      continue;
    }
    if (/[0-9]/.test(ch) || (ch === '-' && /[0-9]/.test(src[i + 1] ?? ''))) {
      let j = i + 1;
      while (j < src.length && /[0-9]/.test(src[j]!)) j++;
      let kind: TokenKind = 'integer';
      if (src[j] === '.' && /[0-9]/.test(src[j + 1] ?? '')) {
        j++;
        while (j < src.length && /[0-9]/.test(src[j]!)) j++;
        kind = 'number';
      }
      out.push({ kind, text: src.slice(i, j), ...start });
      advance(j - i);
      continue;
    }
    if (ch === '"') {
      let j = i + 1;
      let text = '';
      for (;;) {
        const c = src[j];
        if (c === undefined || c === '\n') throw policyError('POLICY_SYNTAX', start, 'unterminated string');
        if (c === '"') break;
        if (c === '\\') {
          const n = src[j + 1];
          if (n !== '"' && n !== '\\') throw policyError('POLICY_SYNTAX', { line, column: col + (j - i) }, `unsupported escape \\${n ?? ''}`);
          text += n;
          j += 2;
          continue;
        }
        text += c;
        j++;
      }
      out.push({ kind: 'string', text, ...start });
      advance(j + 1 - i);
      continue;
    }
    if (ch === '\u201C' || ch === '\u201D') {
      throw policyError('POLICY_SYNTAX', start, 'typographic quote: use a plain " character');
    }
    const p = PUNCT.find((q) => src.startsWith(q, i));
    if (!p) throw policyError('POLICY_SYNTAX', start, `unexpected character ${JSON.stringify(ch)}`);
    out.push({ kind: 'punct', text: p, ...start });
    advance(p.length);
  }
  out.push({ kind: 'eof', text: '', line, column: col });
  return out;
}
