export * from './errors.js';
export * from './fashion-mnist.js';
export * from './fashion-mnist-continual.js';
export * from './fashion-mnist-data.js';
export * from './idx.js';
export * from './jsonl.js';
export * from './options.js';
export * from './sinusoid.js';
