import type { Command } from 'commander';

export function registerWebhookCommands(_parent: Command): void {}
