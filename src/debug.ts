/** Logs under the `debug` setting; `warn` always reaches the console. */
export interface Logger {
  debug(message: string, ...details: unknown[]): void
  warn(message: string, ...details: unknown[]): void
}

const PREFIX = '[mixpanel-device-mode]'

export function createLogger(enabled: boolean): Logger {
  return {
    debug(message, ...details) {
      if (enabled && typeof console !== 'undefined') console.log(PREFIX, message, ...details)
    },
    warn(message, ...details) {
      if (typeof console !== 'undefined') console.warn(PREFIX, message, ...details)
    },
  }
}
