import type { Command } from 'commander';

export function registerNodeAgentCommand(_parent: Command): void {}
