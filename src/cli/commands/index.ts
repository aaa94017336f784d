import type { Command } from 'commander';
import { register as registerConfig } from './config.js';
import { register as registerEval } from './eval.js';
import { register as registerModels } from './models.js';
import { register as registerProduce } from './produce.js';
import { register as registerRun } from './run.js';
import { register as registerTail } from './tail.js';

/** Each subcommand module exports one function that adds itself to the program. */
export type RegisterCommand = (program: Command) => void;

export const commands: RegisterCommand[] = [
  registerConfig,
  registerRun,
  registerProduce,
  registerTail,
  registerModels,
  registerEval,
];
