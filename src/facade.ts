import type { MixpanelLike } from './mixpanel/types'
import { createRuntime, mixpanelOff, type Deps, type Runtime } from './runtime'
import { normalizeSettings, type Settings } from './settings'
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
  optIn(): Promise<void>
  optOut(): Promise<void>
  /** The identified user: `id()` is null for an anonymous visitor; `traits()` those given on this page. */
  user(): { id(): string | null; traits(): Properties }
  /** The mixpanel-browser instance once loaded. */
  readonly mixpanel: MixpanelLike | undefined
}

const isObject = (value: unknown): value is Properties =>
  value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof Date)

const asId = (value: unknown): string | null =>
  typeof value === 'string' && value !== '' ? value : typeof value === 'number' && Number.isFinite(value) ? String(value) : null

const asString = (value: unknown): string | null => (typeof value === 'string' ? value : null)

/** Splits off a trailing callback, as analytics.js does. */
function split(args: Arg[]): { args: Arg[]; callback: Callback | undefined } {
  const list = args.slice()
  while (list.length > 0 && list[list.length - 1] === undefined) list.pop()
  const last = list[list.length - 1]
  return typeof last === 'function' ? { args: list.slice(0, -1), callback: last as Callback } : { args: list, callback: undefined }
}

function pageContext(): PageContext {
  if (typeof location === 'undefined' || typeof document === 'undefined') return {}
  return {
    path: location.pathname,
    referrer: document.referrer,
    search: location.search,
    title: document.title,
    url: location.href.replace(/#.*$/, ''),
  }
}

/** Builds the Segment-spec message of a call from its analytics.js arguments. */
export function toMessage(type: Message['type'], raw: Arg[]): { message: Message; options: CallOptions | undefined } {
  let [a, b, c, d] = raw
  let message: Message
  switch (type) {
    case 'page': {
      // analytics.js: page(props) / page(name, props) / page(category, name, props)
      if (isObject(a)) { d = b; c = a; a = b = undefined }
      if (isObject(b)) { d = c; c = b; b = a; a = undefined }
      if (typeof a === 'string' && typeof b !== 'string') { b = a; a = undefined }
      message = { type, category: asString(a), name: asString(b), properties: isObject(c) ? c : {} }
      return { message, options: isObject(d) ? d : undefined }
    }
    case 'screen':
      if (isObject(a)) { c = b; b = a; a = undefined }
      message = { type, name: asString(a), properties: isObject(b) ? b : {} }
      return { message, options: isObject(c) ? c : undefined }
    case 'identify':
      if (isObject(a)) { c = b; b = a; a = undefined }
      message = { type, userId: asId(a), traits: isObject(b) ? b : {} }
      return { message, options: isObject(c) ? c : undefined }
    case 'group':
      if (isObject(a)) { c = b; b = a; a = undefined }
      message = { type, groupId: asId(a), traits: isObject(b) ? b : {} }
      return { message, options: isObject(c) ? c : undefined }
    case 'alias':
      if (isObject(b)) { c = b; b = undefined }
      message = { type, userId: asId(a), previousId: asId(b) }
      return { message, options: isObject(c) ? c : undefined }
    case 'track':
      message = { type, event: typeof a === 'string' ? a : String(a ?? ''), properties: isObject(b) ? b : {} }
      return { message, options: isObject(c) ? c : undefined }
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
  const runtime = createRuntime(normalizeSettings(settings), deps)
  const analytics = facadeFor(runtime)
  runtime.start()
  return analytics
}

/** The analytics.js API over a runtime (shared with the snippet loader). */
export function facadeFor(runtime: Runtime): Analytics {
  let traits: Properties = {}

  const finish = (work: Promise<void>, callback: Callback | undefined): Promise<void> =>
    work.then(() => {
      if (callback) {
        try {
          callback()
        } catch (error) {
          runtime.log.debug('a callback threw', error)
        }
      }
    })

  function call(type: Message['type'], args: Arg[]): Promise<void> {
    const { args: rest, callback } = split(args)
    try {
      const { message, options } = toMessage(type, rest)
      if (mixpanelOff(options?.integrations)) {
        runtime.log.debug(`${type} call skipped: integrations.Mixpanel is false`)
        return finish(Promise.resolve(), callback)
      }
      if (type === 'page' || type === 'screen') {
        message.context = { page: { ...pageContext(), ...(options?.context?.page ?? {}) } }
      }
      if (type === 'identify') {
        // analytics.js keeps traits per user: a different userId starts afresh.
        const changed = message.userId != null && message.userId !== runtime.state.userId
        traits = { ...(changed ? {} : traits), ...message.traits }
      }
      return finish(runtime.send(message), callback)
    } catch (error) {
      runtime.log.debug(`${type} call failed`, error)
      return finish(Promise.resolve(), callback)
    }
  }

  return {
    page: (...args) => call('page', args),
    screen: (...args) => call('screen', args),
    identify: (...args) => call('identify', args),
    track: (...args) => call('track', args),
    group: (...args) => call('group', args),
    alias: (...args) => call('alias', args),
    reset: () => {
      traits = {}
      return runtime.perform('reset', [{ op: 'reset' }])
    },
    ready: (callback) => finish(runtime.ready(), callback),
    optIn: () => runtime.use('optIn', (mp) => mp.opt_in_tracking()),
    optOut: () => runtime.use('optOut', (mp) => mp.opt_out_tracking()),
    user: () => ({
      id: () => {
        try {
          return runtime.state.userId
        } catch {
          return null
        }
      },
      traits: () => ({ ...traits }),
    }),
    get mixpanel() {
      return runtime.mixpanel
    },
  }
}
