/**
 * The HTTP surface, in the Hono way: authentication (before any byte of the
 * body is read) → body read within the size limit → parse and validate
 * (400 naming the field) → the flow's pure plan, applied by the store → one
 * `onError` that renders every refusal in its endpoint's format.
 */
import { createHash } from 'node:crypto'
import { IncomingMessage } from 'node:http'
import { Hono, type Context, type MiddlewareHandler } from 'hono'
import { HTTPException } from 'hono/http-exception'
import { checkBasic, checkBearer, endpointAuth, safeEqual, type EndpointAuth } from './auth.js'
import type { ShimConfig } from './config.js'
import { membershipRequest, type MembershipInput } from './flows/audience-membership.js'
import { subscriptionRequest, type SubscriptionInput } from './flows/audience-subscription.js'
import { cohortRequest, type CohortInput } from './flows/cohort.js'
import { cohortActionOf, cohortPerson, parseCohortWebhook, type CohortMessage, type CohortPerson } from './flows/cohort-webhook.js'
import { planner } from './flows/index.js'
import { firehoseResponse, moduleRegistrationResponse, parseFirehoseMessage, resolveAudienceSettings } from './flows/firehose.js'
import { parseJsonExact } from './json.js'
import { clock, trace, tracing } from './trace.js'
import type { Logger } from './logger.js'
import type { Metrics } from './metrics.js'
import { SINKS, type Sink, type Store } from './store/types.js'
import { BadRequest, oneOf, optObj } from './validate.js'

export interface AppDeps {
  config: ShimConfig
  store: Store
  metrics: Metrics
  logger: Logger
  /** Called after a commit that queued updates for `sink` (or a requeue). */
  notify: (sink: Sink) => void
  version: string
}

type Endpoint = 'mparticle' | 'mixpanel_cohorts' | 'admin_requeue'
type Env = { Variables: { endpoint: Endpoint; action: string | null } }

/** `application/json`, or a `+json` type, with optional parameters. */
const JSON_TYPE = /^application\/([a-z0-9.!#$&^_-]+\+)?json\s*(;|$)/i

export function createApp(deps: AppDeps): Hono<Env> {
  const { config, store, metrics, logger, notify, version } = deps
  const app = new Hono<Env>()
  const auths = authModes(config)

  const endpoint = (name: Endpoint): MiddlewareHandler<Env> => async (c, next) => {
    c.set('endpoint', name)
    c.set('action', null)
    metrics.inc('shim_webhooks_received_total', { endpoint: name })
    await next()
  }

  // Before the body: an unauthenticated caller never gets a byte buffered, and its connection is closed.
  const authenticate = (name: Endpoint, check: (c: Context<Env>) => boolean): MiddlewareHandler<Env> => async (c, next) => {
    const auth = auths[name]
    if (auth.mode === 'disabled') throw new BadRequest(auth.why, 503)
    if (auth.mode === 'secret' && !check(c)) {
      c.header('Connection', 'close')
      throw new BadRequest(name === 'mparticle' ? 'missing or wrong X-Shim-Secret header'
        : name === 'mixpanel_cohorts' ? 'missing or wrong HTTP Basic credentials' : 'missing or wrong Authorization: Bearer token', 401)
    }
    await next()
  }

  /** Reads the body as JSON within `SHIM_MAX_BODY_BYTES`; integers above 2^53 stay exact (as digit strings). */
  const readJson = async (c: Context<Env>, optional = false): Promise<unknown> => {
    const type = c.req.header('content-type')
    if (type !== undefined && !JSON_TYPE.test(type)) throw new BadRequest(`Content-Type must be application/json (got "${type}")`, 415)
    const text = await readBody(c, config.maxBodyBytes)
    if (text.trim() === '') {
      if (optional) return {}
      throw new BadRequest('request body is empty: expected a JSON object')
    }
    return parseJsonExact(text)
  }

  app.post('/mparticle',
    endpoint('mparticle'),
    authenticate('mparticle', (c) => {
      const given = c.req.header('x-shim-secret')
      return safeEqual(given ?? '', config.mparticle.sharedSecret ?? '') && given !== undefined
    }),
    async (c) => {
      const t0 = tracing ? clock() : 0
      const message = parseFirehoseMessage(await readJson(c))
      const tParsed = tracing ? clock() : 0
      const now = Date.now()
      switch (message.type) {
        case 'module_registration_request':
          return c.json(moduleRegistrationResponse(version))

        case 'audience_subscription_request': {
          resolveAudienceSettings(config, message.accountSettings, false)
          const input: SubscriptionInput = {
            messageId: message.id, timestampMs: message.timestampMs, audienceId: message.audienceId,
            audienceName: message.audienceName, action: message.action,
          }
          const r = await store.apply(subscriptionRequest(input, now), planner('subscription', input))
          if (r.duplicate) metrics.inc('shim_webhooks_duplicate_total', { endpoint: 'mparticle' })
          else if (r.result.stale) metrics.inc('shim_changes_stale_total', { direction: 'mparticle_to_mixpanel' })
          logger.info('audience subscription', { audienceId: message.audienceId, action: message.action, duplicate: r.duplicate })
          return c.json(firehoseResponse('audience_subscription_response'))
        }

        case 'audience_membership_change_request': {
          const withChanges = message.profiles.some((p) => p.changes.length > 0)
          const settings = resolveAudienceSettings(config, message.accountSettings, withChanges)
          // Empty membership requests are pings.
          if (!withChanges) return c.json(firehoseResponse('audience_membership_change_response'))
          const input: MembershipInput = {
            messageId: message.id, timestampMs: message.timestampMs, profiles: message.profiles, settings, identityOrder: config.identityOrder,
          }
          const r = await store.apply(membershipRequest(input, now), planner('membership', input))
          if (tracing) trace('wh', { t: t0, parsed: tParsed, applied: clock() })
          if (r.duplicate) {
            metrics.inc('shim_webhooks_duplicate_total', { endpoint: 'mparticle' })
          } else {
            metrics.inc('shim_changes_applied_total', { direction: 'mparticle_to_mixpanel' }, r.result.applied)
            metrics.inc('shim_changes_stale_total', { direction: 'mparticle_to_mixpanel' }, r.result.stale)
            metrics.inc('shim_skipped_without_identity_total', { direction: 'mparticle_to_mixpanel' }, r.result.withoutIdentity)
            metrics.inc('shim_updates_queued_total', { sink: 'mixpanel' }, r.queued)
            if (r.queued > 0) notify('mixpanel')
          }
          logger.debug('audience membership', { profiles: message.profiles.length, duplicate: r.duplicate, queued: r.duplicate ? 0 : r.queued })
          return c.json(firehoseResponse('audience_membership_change_response'))
        }
      }
    })

  app.post('/mixpanel/cohorts',
    endpoint('mixpanel_cohorts'),
    authenticate('mixpanel_cohorts', (c) =>
      checkBasic(c.req.header('authorization'), config.webhook.user ?? '', config.webhook.password ?? '')),
    async (c) => {
      const body = await readJson(c)
      c.set('action', cohortActionOf(body))
      if (config.mparticle.apiKey === undefined || config.mparticle.apiSecret === undefined) {
        throw new BadRequest('MPARTICLE_API_KEY and MPARTICLE_API_SECRET are not set: the shim cannot deliver cohorts to mParticle', 503)
      }
      const msg = parseCohortWebhook(body)
      const members: CohortPerson[] = []
      let skipped = 0
      for (const m of msg.members) {
        const person = cohortPerson(m, config.cohortIdentityOrder)
        if (person === undefined) skipped++
        else members.push(person)
      }
      const input: CohortInput = {
        action: msg.action, cohortId: msg.cohortId, cohortName: msg.cohortName, sessionId: msg.sessionId, page: msg.page, members,
        dedupeKey: cohortDedupeKey(msg, members),
        dest: config.mparticle.apiHost, environment: config.mparticle.environment,
      }
      const r = await store.apply(cohortRequest(input, Date.now()), planner('cohort', input))
      if (r.duplicate || r.result.lateReplay) {
        metrics.inc('shim_webhooks_duplicate_total', { endpoint: 'mixpanel_cohorts' })
      } else {
        metrics.inc('shim_changes_applied_total', { direction: 'mixpanel_to_mparticle' }, r.result.entered + r.result.left)
        metrics.inc('shim_skipped_without_identity_total', { direction: 'mixpanel_to_mparticle' }, skipped)
        metrics.inc('shim_updates_queued_total', { sink: 'mparticle' }, r.queued)
        if (r.queued > 0) notify('mparticle')
      }
      logger.debug('cohort webhook', { action: msg.action, cohortId: msg.cohortId, members: msg.members.length, duplicate: r.duplicate, ...(r.duplicate ? {} : r.result) })
      return c.json({ action: msg.action, status: 'success' })
    })

  app.post('/admin/requeue',
    endpoint('admin_requeue'),
    authenticate('admin_requeue', (c) => checkBearer(c.req.header('authorization'), config.adminToken ?? '')),
    async (c) => {
      const body = optObj(await readJson(c, true), 'body') ?? {}
      const sink = body.sink === undefined ? undefined : oneOf(body.sink, 'sink', SINKS)
      const requeued = await store.requeueFailed({ ...(sink !== undefined ? { sink } : {}), now: Date.now() })
      for (const s of sink !== undefined ? [sink] : SINKS) notify(s)
      logger.info('failed updates requeued', { sink: sink ?? 'all', updates: requeued })
      return c.json({ requeued })
    })

  app.get('/healthz', async (c) => {
    const now = Date.now()
    try {
      await store.checkWritable(now)
    } catch (err) {
      logger.error('health check failed: the store cannot write', { error: (err as Error).message })
      return c.json({ status: 'error', error: 'the store cannot write (see the log)' }, 503)
    }
    const sinks: Record<string, unknown> = {}
    let degraded = false
    for (const sink of SINKS) {
      const s = await store.sinkState(sink)
      const paused = s.pausedUntil > now
      if (paused && s.kind === 'auth') degraded = true
      sinks[sink] = paused ? { paused: true, reason: s.kind, detail: s.reason, until: new Date(s.pausedUntil).toISOString() } : { paused: false }
    }
    // Still 200 when a sink is paused: restarting the shim would not fix a credential.
    return c.json({ status: degraded ? 'degraded' : 'ok', version, sinks })
  })

  app.get('/metrics', async (c) => {
    const now = Date.now()
    const [gauges, ...sinks] = await Promise.all([store.gauges(now), ...SINKS.map((s) => store.sinkState(s))])
    return c.body(metrics.render(gauges, sinks, now), 200, { 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
  })

  app.get('/', (c) => c.json({
    name: 'mixpanel-device-mode-shim',
    version,
    endpoints: ['POST /mparticle', 'POST /mixpanel/cohorts', 'POST /admin/requeue', 'GET /healthz', 'GET /metrics'],
  }))

  app.notFound((c) => c.json({ error: { message: `no route for ${c.req.method} ${c.req.path}`, code: 404 } }, 404))

  app.onError((err, c) => {
    const name = c.get('endpoint') as Endpoint | undefined
    const known = err instanceof HTTPException
    const status = known ? err.status : 500
    const message = known ? err.message : 'internal error: nothing was stored, please retry'
    // One line per refused request.
    if (status >= 500) logger.error('request refused', { endpoint: name ?? c.req.path, status, reason: message, ...(known ? {} : { error: err.message }) })
    else logger.warn('request refused', { endpoint: name ?? c.req.path, status, reason: message })
    if (name !== undefined) metrics.inc('shim_webhooks_rejected_total', { endpoint: name, status: String(status) })
    if (status === 401 && name === 'mixpanel_cohorts') c.header('WWW-Authenticate', 'Basic realm="mixpanel-device-mode-shim"')
    if (name === 'mixpanel_cohorts') {
      return c.json({ action: c.get('action') ?? null, status: 'failure', error: { message, code: status } }, status)
    }
    return c.json({ error: { message, code: status } }, status)
  })

  return app
}

/**
 * Only deliveries with a session id are recognised as replays: without one,
 * two identical diffs of different syncs look alike (the state change is
 * idempotent anyway). Hashes the parsed fields, never the raw nesting.
 */
function cohortDedupeKey(msg: CohortMessage, members: readonly CohortPerson[]): string | undefined {
  if (msg.sessionId === undefined) return undefined
  const flat = [msg.sessionId, msg.action, msg.cohortId, msg.cohortName, String(msg.page?.index), String(msg.page?.total),
    ...members.flatMap((m) => [m.key, m.identity.type, m.identity.value])]
  return createHash('sha256').update(JSON.stringify(flat)).digest('hex')
}

/**
 * Reads a body up to `max` bytes: a bigger Content-Length is refused unread, a chunked body is cut off at the limit.
 * Under @hono/node-server, from Node's request stream itself: through the web `Request` body (a ReadableStream
 * adapted from it) reading took about 0.5 ms of the main thread per webhook (docs/shim.md, "Benchmark").
 */
async function readBody(c: Context<Env>, max: number): Promise<string> {
  const tooLarge = (): BadRequest => new BadRequest(`request body is larger than ${max} bytes (SHIM_MAX_BODY_BYTES)`, 413)
  const length = c.req.header('content-length') ?? null
  if (length !== null && (!/^\d+$/.test(length) || Number(length) > max)) throw tooLarge()
  const incoming = (c.env as { incoming?: unknown } | undefined)?.incoming
  if (incoming instanceof IncomingMessage) return readIncoming(incoming, max, tooLarge)
  const req = c.req.raw
  if (req.body === null) return ''
  const reader = req.body.getReader()
  const chunks: Uint8Array[] = []
  let size = 0
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      size += value.byteLength
      if (size > max) {
        void reader.cancel().catch(() => {})
        throw tooLarge()
      }
      chunks.push(value)
    }
  } catch (err) {
    if (err instanceof BadRequest) throw err
    throw new BadRequest(`the request body could not be read (${(err as Error).message}): the client went away?`)
  }
  return Buffer.concat(chunks).toString('utf8')
}

async function readIncoming(incoming: IncomingMessage, max: number, tooLarge: () => BadRequest): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  try {
    // Leaving the loop (a body too large) destroys the stream, as cancelling the web stream did.
    for await (const chunk of incoming as AsyncIterable<Buffer>) {
      size += chunk.length
      if (size > max) throw tooLarge()
      chunks.push(chunk)
    }
  } catch (err) {
    if (err instanceof BadRequest) throw err
    throw new BadRequest(`the request body could not be read (${(err as Error).message}): the client went away?`)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function authModes(config: ShimConfig): Record<Endpoint, EndpointAuth> {
  return {
    mparticle: endpointAuth(config, config.mparticle.sharedSecret !== undefined, 'MPARTICLE_SHARED_SECRET'),
    mixpanel_cohorts: endpointAuth(config, config.webhook.user !== undefined, 'MIXPANEL_WEBHOOK_USER/MIXPANEL_WEBHOOK_PASSWORD'),
    admin_requeue: endpointAuth(config, config.adminToken !== undefined, 'SHIM_ADMIN_TOKEN'),
  }
}

export function describeAuth(config: ShimConfig): Record<string, string> {
  const a = authModes(config)
  const show = (x: EndpointAuth): string => (x.mode === 'secret' ? 'secret required' : `${x.mode}: ${x.why}`)
  return { '/mparticle': show(a.mparticle), '/mixpanel/cohorts': show(a.mixpanel_cohorts), '/admin/requeue': show(a.admin_requeue) }
}
