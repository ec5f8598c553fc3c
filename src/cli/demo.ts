import type { Command } from 'commander';

export function registerDemoCommand(_parent: Command): void {}
