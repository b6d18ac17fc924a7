import { createLogger, type Logger } from './debug'
import { apply } from './mixpanel/apply'
import { startMixpanel } from './mixpanel/load'
import { startBridge, type Bridge } from './mparticle/bridge'
import type { MixpanelLike } from './mixpanel/types'
import type { NormalizedSettings } from './settings'
import { translate } from './translate/index'
import type { Message, Operation, State } from './types'

/** Whether an `integrations` object (analytics.js options, Segment events) turns Mixpanel off for a call. */
export function mixpanelOff(integrations: unknown): boolean {
  const flags = integrations as Record<string, unknown> | null | undefined
  return typeof flags === 'object' && flags !== null && (flags.Mixpanel === false || (flags.All === false && flags.Mixpanel !== true))
}

/** Optional collaborators the page already has. */
export interface Deps {
  /** A mixpanel-browser instance or module to use instead of the bundled core (initialised only if it is not yet). */
  mixpanel?: MixpanelLike
  /** The mParticle Web SDK object, when it is not `window.mParticle`. */
  mParticle?: unknown
}

/**
 * The running integration behind both the facade and the Analytics Next
 * plugin: it owns the mixpanel-browser instance, queues work until it is
 * ready, and never lets an error reach the caller.
 */
export interface Runtime {
  readonly settings: NormalizedSettings
  readonly log: Logger
  /** The mixpanel-browser instance once started (undefined before, or if it could not start). */
  readonly mixpanel: MixpanelLike | undefined
  readonly state: State
  /** Starts mixpanel-browser (once) and replays what was queued. */
  start(): void
  /** Resolves once started, whether or not mixpanel-browser could start. */
  ready(): Promise<void>
  /** Translates and applies a message once ready. */
  send(message: Message): Promise<void>
  /** Applies operations once ready. */
  perform(label: string, ops: Operation[]): Promise<void>
  /** Runs a task with the instance once ready (skipped when it could not start). */
  use(label: string, task: (mixpanel: MixpanelLike) => void): Promise<void>
}

export function createRuntime(settings: NormalizedSettings, deps: Deps = {}): Runtime {
  const log = createLogger(settings.debug)
  let mixpanel: MixpanelLike | undefined
  let started = false
  let bridge: Bridge | undefined
  let wasReset = false
  let queue: Array<() => void> = []
  let markReady: () => void = () => {}
  const readyPromise = new Promise<void>((resolve) => (markReady = resolve))

  // Read lazily: mixpanel-browser re-reads its cookie on every get_property.
  const state: State = {
    get userId() {
      const id = mixpanel?.get_property('$user_id')
      return typeof id === 'string' && id !== '' ? id : null
    },
    get distinctId() {
      const id = mixpanel?.get_distinct_id()
      return typeof id === 'string' && id !== '' ? id : null
    },
    superProperty: (name) => mixpanel?.get_property(name),
  }

  function use(label: string, task: (mp: MixpanelLike) => void): Promise<void> {
    const run = (): void => {
      if (mixpanel === undefined) {
        log.debug(`${label} dropped: mixpanel-browser is not running`)
        return
      }
      try {
        task(mixpanel)
      } catch (error) {
        log.debug(`${label} failed`, error)
      }
    }
    if (started) {
      run()
      return Promise.resolve()
    }
    return new Promise((resolve) => queue.push(() => (run(), resolve())))
  }

  function applyAll(label: string, mp: MixpanelLike, ops: Operation[]): void {
    for (const error of apply(mp, ops)) log.debug(`${label}: a mixpanel-browser call failed`, error)
  }

  function perform(label: string, ops: Operation[]): Promise<void> {
    return use(label, (mp) => {
      applyAll(label, mp, ops)
      if (ops.some((o) => o.op === 'reset')) wasReset = true
    })
  }

  function send(message: Message): Promise<void> {
    return use(message.type, (mp) => {
      const { ops, notes } = translate(message, { settings, state, now: new Date() })
      for (const note of notes) log.debug(note)
      // A profile that is not the one the MPID went to (another user, or any
      // user after reset, which drops mixpanel-browser's queue) gets it again.
      const switching = bridge !== undefined && ops.some((o) => o.op === 'identify') && (wasReset || state.userId !== null)
      applyAll(message.type, mp, ops)
      if (switching) {
        wasReset = false
        bridge?.resend()
      }
    })
  }

  function start(): void {
    if (started) return
    try {
      mixpanel = startMixpanel(settings, deps.mixpanel)
    } catch (error) {
      log.warn('mixpanel-browser could not start; calls are dropped', error)
    }
    try {
      // mixpanel-browser sends queued People updates only after identify() ran on
      // this page, so a known user is re-identified (no new $identify: same id).
      const known = state.userId
      if (known !== null) mixpanel?.identify(known)
    } catch (error) {
      log.debug('re-identifying the known user failed', error)
    }
    started = true
    const pending = queue
    queue = []
    for (const task of pending) task()
    markReady()
    if (settings.mparticle) bridge = startBridge({ settings, log, perform }, deps.mParticle)
  }

  return {
    settings,
    log,
    get mixpanel() {
      return mixpanel
    },
    state,
    start,
    ready: () => readyPromise,
    send,
    perform,
    use,
  }
}
