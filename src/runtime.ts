import { createLogger, PREFIX, type Logger } from './debug'
import { apply } from './mixpanel/apply'
import { startMixpanel } from './mixpanel/load'
import { withOneRead } from './mixpanel/persistence-once'
import type { MixpanelLike } from './mixpanel/types'
import type { Bridge } from './mparticle/bridge'
import { whenMParticle } from './mparticle/watch'
import { BRIDGE_FAILED, CALL_FAILED, MIXPANEL_FAILED, NOT_BROWSER, NOT_RUNNING, REIDENTIFY_FAILED } from './notes'
import type { NormalizedSettings } from './settings'
import { translate } from './translate/index'
import { startOperations } from './translate/start'
import { nonEmptyString } from './translate/values'
import type { Message, Operation, State } from './types'

/** Whether an `integrations` object (analytics.js options, Segment events) turns Mixpanel off for a call. */
export function mixpanelOff(integrations: unknown): boolean {
  const flags = Object(integrations) as Record<string, unknown>
  return flags.Mixpanel === false || (flags.All === false && flags.Mixpanel !== true)
}

/** Optional collaborators the page already has. */
export interface Deps {
  /** A mixpanel-browser instance or module to use instead of the bundled core (initialised only if it is not yet). */
  mixpanel?: MixpanelLike
  /** The mParticle Web SDK object when it is not `window.mParticle`, or a named instance (`mParticle.getInstance('name')`) to follow instead of the default one. */
  mParticle?: unknown
}

/**
 * The running integration behind both the facade and the Analytics Next
 * plugin: it owns the mixpanel-browser instance (started at creation) and
 * never lets an error reach the caller. Every method resolves at once.
 */
export interface Runtime {
  readonly log: Logger
  /** The mixpanel-browser instance (undefined when it could not start). */
  readonly mixpanel: MixpanelLike | undefined
  readonly state: State
  /** Translates and applies a message. */
  send(message: Message): Promise<void>
  /** Applies operations. */
  perform(label: string, ops: Operation[]): Promise<void>
  /**
   * Runs `task` as one call: mixpanel-browser reads its stored state once for
   * everything the task does, `send` and `perform` included (docs/performance.md).
   */
  once<T>(task: () => T): T
}

/** Starts mixpanel-browser with the settings (and the mParticle bridge when mParticle shows up). */
export function createRuntime(settings: NormalizedSettings, deps: Deps = {}): Runtime {
  const log = createLogger(settings.debug)
  let mixpanel: MixpanelLike | undefined
  let bridge: Bridge | undefined
  let wasReset = false

  // Read lazily: mixpanel-browser re-reads its cookie on every get_property.
  const state: State = {
    get userId() {
      return nonEmptyString(mixpanel?.get_property('$user_id'))
    },
    get distinctId() {
      return nonEmptyString(mixpanel?.get_distinct_id())
    },
    superProperty: (name) => mixpanel?.get_property(name),
  }

  // One persistence read per call, on our own instance only (docs/performance.md).
  const once = <T>(task: () => T, fresh?: boolean): T => (mixpanel && !deps.mixpanel ? withOneRead(mixpanel, task, fresh) : task())

  /** Runs a task with the instance (skipped when it could not start). */
  function use(label: string, task: (mp: MixpanelLike) => void): Promise<void> {
    if (!mixpanel) browser && log.debug([NOT_RUNNING, label])
    else {
      try {
        once(() => task(mixpanel!))
      } catch (error) {
        log.debug([CALL_FAILED, label], error)
      }
    }
    return Promise.resolve()
  }

  const applyAll = (label: string, mp: MixpanelLike, ops: Operation[]): void => {
    for (const error of apply(mp, ops)) log.debug([MIXPANEL_FAILED, label], error)
  }

  const perform = (label: string, ops: Operation[]): Promise<void> =>
    use(label, (mp) => {
      applyAll(label, mp, ops)
      if (ops.some((o) => o.op === 'reset')) wasReset = true
    })

  const send = (message: Message): Promise<void> =>
    use(message.type, (mp) => {
      const { ops, notes } = translate(message, { settings, state, now: new Date() })
      for (const note of notes) log.debug(note)
      // A profile that is not the one the MPID went to (another user, or any
      // user after reset, which drops mixpanel-browser's queue) gets it again.
      // (No bridge, no check: reading the user re-parses mixpanel-browser's cookie.)
      const switching = bridge && ops.some((o) => o.op === 'identify') && (wasReset || state.userId !== null)
      applyAll(message.type, mp, ops)
      if (switching) {
        wasReset = false
        bridge?.resend()
      }
    })

  // Server rendering (no document, no mixpanel given): one sentence under
  // `debug`, no attempt, no stack (docs/behaviour.md, "Server rendering").
  const browser = deps.mixpanel || typeof document == 'object'
  if (!browser) log.debug([NOT_BROWSER])
  else try {
    mixpanel = startMixpanel(settings, deps.mixpanel, log.debug)
    // Start-up operations (translate/start.ts): the known user re-identified,
    // stored `length`/`bucket` repaired, People queues dropped without `people`.
    // init() has just read the stored entry in this task: it is not read again.
    once(() => applyAll('start', mixpanel!, startOperations(state, settings.people)), true)
  } catch (error) {
    if (mixpanel) log.debug([REIDENTIFY_FAILED], error)
    // Said even without `debug`: nothing will reach Mixpanel.
    else console.warn(PREFIX, 'mixpanel-browser could not start; calls are dropped', error)
  }
  // `people: false` means no profile writes at all, the MPID's included. The
  // bridge's code loads only on pages where mParticle shows up.
  if (browser && settings.mparticle && settings.people) {
    const failed = (error: unknown): void => log.debug([BRIDGE_FAILED], error)
    whenMParticle(deps.mParticle, () =>
      import('./mparticle/bridge').then((m) => (bridge = m.startBridge({ perform, failed }, deps.mParticle)), failed),
    )
  }
  return {
    log,
    get mixpanel() {
      return mixpanel
    },
    state,
    send,
    perform,
    once,
  }
}
