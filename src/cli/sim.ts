import type { Command } from 'commander';

export function registerSimCommands(_parent: Command): void {}
