import type { MixpanelLike } from './mixpanel/types'
import { createRuntime, mixpanelOff, type Deps, type Runtime } from './runtime'
import { CALL_FAILED, CALLBACK_THREW, SKIPPED } from './notes'
import { normalizeSettings, type Settings } from './settings'
import { isObject } from './translate/values'
import type { Message, PageContext, Properties } from './types'

export type Callback = () => void

/** Per-call options, as in analytics.js. */
export interface CallOptions {
  /** `{ Mixpanel: false }` (or `{ All: false }`) skips the call. */
  integrations?: Record<string, unknown>
  /** `context.page` overrides the page facts read from the document. */
  context?: { page?: PageContext } & Properties
  [key: string]: unknown
}

type Arg = string | number | Properties | CallOptions | Callback | null | undefined

/** Options of `optOut()`. */
export interface OptOutOptions {
  /** Also delete the user's Mixpanel profile and its charges (an erasure request). @default false */
  deleteUser?: boolean
}

/** The analytics.js-style API returned by `createAnalytics()`. Every call resolves, never rejects. */
export interface Analytics {
  page(category?: Arg, name?: Arg, properties?: Arg, options?: Arg, callback?: Callback): Promise<void>
  screen(name?: Arg, properties?: Arg, options?: Arg, callback?: Callback): Promise<void>
  identify(userId?: Arg, traits?: Arg, options?: Arg, callback?: Callback): Promise<void>
  track(event: string, properties?: Arg, options?: Arg, callback?: Callback): Promise<void>
  group(groupId: Arg, traits?: Arg, options?: Arg, callback?: Callback): Promise<void>
  alias(userId: string, previousId?: Arg, options?: Arg, callback?: Callback): Promise<void>
  /** Forgets the user: mixpanel `reset()` (new device id, super properties and cookie cleared). */
  reset(): Promise<void>
  /** Resolves (and calls back) once mixpanel-browser has started. */
  ready(callback?: Callback): Promise<void>
  /** Opts back in to tracking (mixpanel `opt_in_tracking`). */
  optIn(): Promise<void>
  /**
   * Stops all tracking and clears mixpanel-browser's stored data; deletes
   * nothing in Mixpanel unless `{ deleteUser: true }` (an erasure request).
   */
  optOut(options?: OptOutOptions): Promise<void>
  /** The identified user: `id()` is null for an anonymous visitor; `traits()` those given on this page. */
  user(): { id(): string | null; traits(): Properties }
  /** The mixpanel-browser instance once loaded. */
  readonly mixpanel: MixpanelLike | undefined
}

/** A non-empty string, or a finite number as a string, else null. */
const asId = (value: unknown): string | null =>
  (typeof value === 'string' && value) || (Number.isFinite(value) && String(value)) || null

// The positional arguments of each call before `options`. A text slot given
// an object is left empty and the object tried on the next slot, as
// analytics.js juggles `identify(traits)` or `page(name, properties)`.
const SLOTS: Record<Message['type'], string[]> = {
  page: ['category', 'name', 'properties'],
  screen: ['name', 'properties'],
  identify: ['userId', 'traits'],
  track: ['event', 'properties'],
  group: ['groupId', 'traits'],
  alias: ['userId', 'previousId'],
}

/** Builds the Segment-spec message of a call from its analytics.js arguments (callbacks already removed). */
export function toMessage(type: Message['type'], raw: Arg[]): { message: Message; options: CallOptions | undefined } {
  const args = raw.slice()
  const message: Record<string, unknown> = { type }
  for (const slot of SLOTS[type]) {
    const bag = slot === 'properties' || slot === 'traits'
    if (bag || !isObject(args[0])) {
      const value = args.shift()
      message[slot] =
        bag ? (isObject(value) ? value : {})
        // Page and screen names are strings as given ('' included), ids and events also numbers.
        : slot === 'name' || slot === 'category' ? (typeof value === 'string' ? value : null)
        : asId(value)
    } else message[slot] = null
  }
  // page('Name') and page('Name', properties) name the page.
  if (type === 'page' && message.name === null) (message.name = message.category), (message.category = null)
  return { message: message as unknown as Message, options: isObject(args[0]) ? args[0] : undefined }
}

/** What `task` returns, or `fallback` when it throws: a hostile argument or a broken mixpanel-browser never throws into the page. */
function attempt<T>(task: () => T, fallback: T): T {
  try {
    return task()
  } catch {
    return fallback
  }
}

/**
 * Creates the integration. Throws a `SettingsError` naming the setting when
 * the settings are wrong; after that, no call ever throws into the page.
 *
 * @example
 * const analytics = createAnalytics({ token: 'YOUR_TOKEN' })
 * analytics.identify('u1', { email: 'a@b.co' })
 * analytics.track('Signed Up', { plan: 'pro' })
 */
export function createAnalytics(settings: Settings, deps: Deps = {}): Analytics {
  return facadeFor(createRuntime(normalizeSettings(settings), deps))
}

/** The analytics.js API over a runtime. */
export function facadeFor(runtime: Runtime): Analytics {
  let traits: Properties = {}
  const debug = runtime.log.debug

  const finish = (work: Promise<void>, callback: unknown): Promise<void> =>
    work.then(() => {
      try {
        if (typeof callback === 'function') callback()
      } catch (error) {
        debug([CALLBACK_THREW], error)
      }
    })

  function call(type: Message['type'], args: Arg[]): Promise<void> {
    // analytics.js: the function among the arguments is the callback.
    const callback = args.filter((arg) => typeof arg === 'function').pop()
    let work: Promise<void> | undefined
    try {
      const { message, options } = toMessage(type, args.filter((arg) => typeof arg !== 'function'))
      if (mixpanelOff(options?.integrations)) debug([SKIPPED, type])
      else {
        if (type === 'page' || type === 'screen') {
          // Outside a browser (tests, server rendering) only the caller's page facts.
          const page = typeof document == 'object' && {
            path: location.pathname,
            referrer: document.referrer,
            search: location.search,
            title: document.title,
            url: location.href.replace(/#.*$/, ''),
          }
          message.context = { page: { ...page, ...options?.context?.page } }
        }
        // One read of mixpanel-browser's state for the check and the call.
        work = runtime.once(() => {
          if (type === 'identify') {
            // analytics.js keeps traits per user: a different userId starts afresh.
            const changed = message.userId && message.userId !== runtime.state.userId
            traits = { ...(changed ? {} : traits), ...message.traits }
          }
          return runtime.send(message)
        })
      }
    } catch (error) {
      debug([CALL_FAILED, type], error)
    }
    return finish(work ?? Promise.resolve(), callback)
  }

  const analytics = {
    reset: () => {
      traits = {}
      return runtime.perform('reset', [{ op: 'reset' }])
    },
    ready: (callback?: Callback) => finish(Promise.resolve(), callback),
    optIn: () => runtime.perform('optIn', [{ op: 'opt_in' }]),
    // Deletes nothing unless asked: a consent banner's "reject" is not an erasure request.
    // `deleteUser` must be exactly true (a hostile object is a no).
    optOut: (options?: OptOutOptions) =>
      runtime.perform('optOut', [{ op: 'opt_out', deleteUser: attempt(() => Object(options).deleteUser === true, false) }]),
    user: () => ({
      id: () => attempt(() => runtime.state.userId, null),
      traits: () => ({ ...traits }),
    }),
    get mixpanel() {
      return runtime.mixpanel
    },
  } as Analytics
  for (const type of Object.keys(SLOTS) as Message['type'][]) {
    ;(analytics as any)[type] = (...args: Arg[]) => call(type, args)
  }
  return analytics
}
