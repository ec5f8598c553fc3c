import type { Command } from 'commander';

export function registerQuoteCommands(_parent: Command): void {}
export function registerCollateralCommands(_parent: Command): void {}
