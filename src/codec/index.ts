export * from './codec.js';
export * from './convert.js';
export * from './errors.js';
export * from './records.js';
export { findSchemasDir, loadSchemaSet, type SchemaSet } from './schema-files.js';
