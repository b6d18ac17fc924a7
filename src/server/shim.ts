/**
 * Wiring: configuration → store (opened and locked) → app → Node HTTP server
 * → recovery and senders; and an orderly shutdown (stop accepting, finish
 * requests, drain, close the store).
 */
import { randomUUID } from 'node:crypto'
import type { Server } from 'node:http'
import { hostname } from 'node:os'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import { createApp, describeAuth } from './app.js'
import { loadConfig, type ShimConfig } from './config.js'
import { mixpanelEngage } from './destinations/mixpanel-engage/index.js'
import { mparticleEvents } from './destinations/mparticle-events/index.js'
import { fetchHttpClient, type HttpClient } from './http-client.js'
import { createLogger, type Logger } from './logger.js'
import { Metrics } from './metrics.js'
import { Sender } from './sender.js'
import { shimVersion } from './version.js'
import { openSqliteStore } from './store/sqlite.js'
import { warmUpHttp } from './warm-up.js'
import type { Sink, Store } from './store/types.js'

export { shimVersion }

/** A proxy URL may carry `user:password@`: never log it. */
export function withoutCredentials(url: string): string {
  try {
    const u = new URL(url)
    if (u.username === '' && u.password === '') return url
    u.username = '***'
    u.password = ''
    return u.toString().replace(/\/$/, '')
  } catch {
    return '(unparsable URL)'
  }
}

/** Opens the store the configuration names (SQLite: `SHIM_DB`), taking its lock. */
export async function openStore(config: ShimConfig): Promise<Store> {
  if (config.databaseUrl !== undefined) {
    // Loaded only when selected: `pg` is an optional peer dependency.
    const { openPostgresStore } = await import('./store/postgres/postgres-store.js')
    return openPostgresStore({ url: config.databaseUrl, poolSize: config.pgPoolSize })
  }
  return openSqliteStore({
    path: config.dbPath, synchronous: config.sqliteSynchronous, worker: config.sqliteWorker, checkpointThread: config.sqliteCheckpointThread,
    warmUp: config.warmUp,
  })
}

export interface ShimDeps {
  config: ShimConfig
  logger?: Logger
  /** Replaces fetch for outgoing requests. */
  http?: HttpClient
  /** Replaces the configured store (a second backend, or a test double). */
  store?: Store
}

/** The shim without a listening socket: `app.request()` works in-process. */
export interface Shim {
  config: ShimConfig
  app: Hono<any>
  store: Store
  metrics: Metrics
  logger: Logger
  senders: Record<Sink, Sender>
  /** Releases (or expires) leases of a previous run, prunes, starts the senders. */
  start(): Promise<void>
  /** Drains the outbox until nothing is due or the deadline passes, then closes the store. */
  stop(deadlineMs?: number): Promise<void>
}

/** Opens the store (or takes `deps.store`) and builds the app; nothing is recovered or sent before `start()`. */
export async function createShim(deps: ShimDeps): Promise<Shim> {
  const { config } = deps
  const logger = deps.logger ?? createLogger(config.logLevel)
  const store = deps.store ?? await openStore(config)
  const metrics = new Metrics()
  const http = deps.http ?? fetchHttpClient(config.httpTimeoutMs)
  const process = `${hostname()}:${globalThis.process.pid}:${randomUUID().slice(0, 8)}`

  const common = {
    store, http, metrics, logger,
    lingerMs: config.lingerMs, retryBaseMs: config.retryBaseMs, retryMaxMs: config.retryMaxMs, retryAfterMaxMs: config.retryAfterMaxMs,
    maxAttempts: config.maxAttempts,
    // A lease outlives the longest request (checked in loadConfig), so only a process that is gone or stuck loses it.
    leaseMs: config.leaseMs,
  }
  const senders: Record<Sink, Sender> = {
    mixpanel: new Sender({ ...common, destination: mixpanelEngage, owner: `${process}:mixpanel`, batchSize: config.engageBatchSize }),
    mparticle: new Sender({
      ...common,
      destination: mparticleEvents(config.mparticle.apiKey, config.mparticle.apiSecret),
      owner: `${process}:mparticle`,
      batchSize: config.bulkBatchSize,
    }),
  }
  const app = createApp({ config, store, metrics, logger, notify: (sink) => senders[sink].notify(), version: shimVersion() })

  let pruneTimer: NodeJS.Timeout | undefined
  const prune = async (): Promise<void> => {
    try {
      await store.prune(Date.now() - config.dedupeRetentionHours * 3_600_000)
    } catch (err) {
      logger.error('pruning old dedupe records failed', { error: (err as Error).message })
    }
  }

  return {
    config, app, store, metrics, logger, senders,
    async start() {
      const now = Date.now()
      const recovered = store.exclusive ? await store.releaseAllLeases(now) : await store.expireLeases(now)
      if (recovered > 0) logger.info('requeued updates that were in flight when the shim stopped', { updates: recovered })
      await prune()
      pruneTimer = setInterval(() => void prune(), 3_600_000)
      pruneTimer.unref()
      senders.mixpanel.start()
      senders.mparticle.start()
    },
    async stop(deadlineMs = config.shutdownTimeoutMs) {
      if (pruneTimer !== undefined) clearInterval(pruneTimer)
      await Promise.all([senders.mixpanel.stop(deadlineMs), senders.mparticle.stop(deadlineMs)])
      await store.close()
    },
  }
}

const round1 = (ms: number | undefined): number | null => ms === undefined ? null : Math.round(ms * 10) / 10

export interface StartShimOptions {
  /** Environment variables (docs/shim.md); defaults to `process.env`. */
  env?: Record<string, string | undefined>
  /** Overrides `PORT`; 0 picks a free port. */
  port?: number
  /** Overrides `HOST`. */
  host?: string
  logger?: Logger
  http?: HttpClient
  store?: Store
}

export interface RunningShim {
  /** e.g. `http://127.0.0.1:8787` */
  url: string
  port: number
  host: string
  config: ShimConfig
  app: Hono<any>
  metrics: Metrics
  store: Store
  /** Graceful: stop accepting, finish requests in progress, drain due updates, close the store. */
  close(): Promise<void>
}

/**
 * Starts the shim on a real socket. Order matters: the store is opened (and
 * locked) first, then the port is bound, and only then are leases of a
 * previous run released — a start that fails (file in use, port taken)
 * changes nothing.
 *
 * @example
 * const shim = await startShim({ env: { MIXPANEL_TOKEN: 'demo-token', MIXPANEL_API_HOST: 'http://127.0.0.1:4000', SHIM_DB: ':memory:' }, port: 0 })
 * // POST `${shim.url}/mparticle` …
 * await shim.close()
 */
export async function startShim(opts: StartShimOptions = {}): Promise<RunningShim> {
  const config = loadConfig(opts.env ?? process.env)
  if (opts.port !== undefined) config.port = opts.port
  if (opts.host !== undefined) config.host = opts.host
  // Before the port is bound, so the first real webhooks find the code compiled (warm-up.ts), beside the store's
  // thread warming its part while the store opens. A failed warm-up only costs speed.
  // Both settle before going on, so the warm-up's loopback server is closed even when the store fails to open.
  const [created, warmUp] = await Promise.allSettled([
    createShim({
      config,
      ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
      ...(opts.http !== undefined ? { http: opts.http } : {}),
      ...(opts.store !== undefined ? { store: opts.store } : {}),
    }),
    config.warmUp ? warmUpHttp() : Promise.resolve(undefined),
  ])
  if (created.status === 'rejected') throw created.reason
  const shim = created.value
  if (warmUp.status === 'rejected') shim.logger.warn('warm-up failed; starting without it', { error: (warmUp.reason as Error).message })
  const warmUpHttpMs = warmUp.status === 'fulfilled' ? warmUp.value : undefined

  let server: Server
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: shim.app.fetch, port: config.port, hostname: config.host }) as Server
      s.once('listening', () => resolve(s))
      s.once('error', reject)
    })
  } catch (err) {
    await shim.store.close().catch(() => {})
    throw new Error(`cannot listen on ${config.host}:${config.port} (HOST/PORT): ${(err as Error).message}`)
  }
  try {
    await shim.start()
  } catch (err) {
    await new Promise<void>((resolve) => server.close(() => resolve()))
    await shim.store.close().catch(() => {})
    throw err
  }
  const address = server.address() as AddressInfo
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${hostForUrl}:${address.port}`
  shim.logger.info('shim listening', {
    url, store: shim.store.description, version: shimVersion(), auth: describeAuth(config),
    mixpanelApi: config.mixpanel.apiHost !== undefined
      ? withoutCredentials(config.mixpanel.apiHost)
      : `from target server (${config.mixpanel.targetServer ?? 'standard'})`,
    mparticleApi: withoutCredentials(config.mparticle.apiHost),
    ...(config.warmUp ? { warmUpMs: { http: round1(warmUpHttpMs), store: round1((shim.store as { warmUpMs?: number }).warmUpMs) } } : {}),
  })

  let closing: Promise<void> | undefined
  const close = (): Promise<void> => {
    closing ??= (async () => {
      const deadline = Date.now() + config.shutdownTimeoutMs
      // Stop accepting; requests in progress finish (their commits are what we acknowledge).
      const closed = new Promise<void>((resolve) => server.close(() => resolve()))
      server.closeIdleConnections()
      const force = setTimeout(() => server.closeAllConnections(), Math.max(0, deadline - Date.now()))
      await closed
      clearTimeout(force)
      await shim.stop(Math.max(0, deadline - Date.now()))
      shim.logger.info('shim stopped')
    })()
    return closing
  }

  return { url, port: address.port, host: config.host, config, app: shim.app, metrics: shim.metrics, store: shim.store, close }
}
