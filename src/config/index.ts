export * from './schema.js';
export { loadConfig, readConfigFile, deepMerge, deepFreeze, type LoadConfigOptions } from './load.js';
export { envLeaves, configFromEnv } from './env.js';
