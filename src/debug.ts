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
      // Without the sentences (the chunk failed to load), the note as data.
      messages?.then((m) => m.explain(note), () => note).then((text) => console.log(PREFIX, text, ...details))
    },
  }
}
