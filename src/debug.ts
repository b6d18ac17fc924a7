import type { Note } from './notes'

/** Logs under the `debug` setting. */
export interface Logger {
  /**
   * Explains a note on the console when `debug` is on. The sentences live in a
   * module loaded only then, so lines appear a moment later, in call order.
   */
  debug(note: Note, ...details: unknown[]): void
}

export const PREFIX = '[mixpanel-device-mode]'

export function createLogger(enabled: boolean): Logger {
  const messages = enabled ? import('./messages') : undefined
  return {
    debug(note, ...details) {
      messages?.then(
        (m) => console.log(PREFIX, m.explain(note), ...details),
        () => console.log(PREFIX, note, ...details),
      )
    },
  }
}
