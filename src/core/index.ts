export * from './errors.js';
export * from './channels.js';
export * from './namespaces.js';
export * from './capabilities.js';
export * from './envelope.js';
export * from './config.js';
export * from './provider-names.js';
export * from './token-response.js';
export { parseInput, toIssues } from './validation.js';
