export * from './episode.js';
export * from './families.js';
export * from './validate.js';
