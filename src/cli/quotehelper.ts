import type { Command } from 'commander';

export function registerQuoteGetCommand(_parent: Command): void {}
export function registerQuoteHelperCommand(_parent: Command): void {}
