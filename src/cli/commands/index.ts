import type { Command } from 'commander';
import { register as registerConfig } from './config.js';

/** Each subcommand module exports one function that adds itself to the program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [registerConfig];
