/** Programmatic entry of the audience shim (docs/shim.md). */
export { startShim, createShim, openStore, shimVersion } from './shim.js'
export type { StartShimOptions, RunningShim, Shim, ShimDeps } from './shim.js'
export { loadConfig, helpText, ConfigError, ENV_VARS } from './config.js'
export type { ShimConfig, EnvVarDoc, TargetServer, LogLevel } from './config.js'
export { createLogger, silentLogger } from './logger.js'
export type { Logger } from './logger.js'
export type * from './store/types.js'
export type { HttpClient, HttpResponse } from './http-client.js'
