import type { Command } from 'commander';

export function registerAttestationServiceCommand(_parent: Command): void {}
