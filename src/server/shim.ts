/**
 * Wiring: configuration → store → senders → app → Node HTTP server, and an
 * orderly shutdown (stop accepting, finish requests, drain, close the store).
 */
import { readFileSync } from 'node:fs'
import type { Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import { createApp, describeAuth } from './app.js'
import { loadConfig, type ShimConfig } from './config.js'
import { fetchHttpClient, type HttpClient } from './http-client.js'
import { createLogger, type Logger } from './logger.js'
import { Metrics, type Sink } from './metrics.js'
import { OutboxSender } from './outbox-sender.js'
import { mixpanelDeliverer, mparticleDeliverer, type Deliverer } from './sinks.js'
import { SqliteStore } from './sqlite-store.js'
import type { Store } from './store.js'
import { WorkerStore, workerAvailable } from './worker-store.js'

export function shimVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }
    return pkg.version ?? '0.0.0'
  } catch {
    return '0.0.0'
  }
}

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

export interface ShimDeps {
  config: ShimConfig
  logger?: Logger
  /** Replaces fetch for outgoing requests. */
  http?: HttpClient
  /** Replaces the SQLite store (a second backend, or a test double). */
  store?: Store
}

/** The shim without a listening socket: `app.request()` works in-process. */
export interface Shim {
  config: ShimConfig
  app: Hono
  store: Store
  metrics: Metrics
  logger: Logger
  /** Recovers unconfirmed updates and starts the senders. */
  start(): Promise<void>
  /** Drains the outbox until nothing is due or the deadline passes, then closes the store. */
  stop(deadlineMs?: number): Promise<void>
}

export function createShim(deps: ShimDeps): Shim {
  const { config } = deps
  const logger = deps.logger ?? createLogger(config.logLevel)
  const store = deps.store ?? new SqliteStore({ path: config.dbPath, synchronous: config.sqliteSynchronous })
  const metrics = new Metrics()
  const http = deps.http ?? fetchHttpClient(config.httpTimeoutMs)

  const common = {
    store, metrics, logger,
    lingerMs: config.lingerMs, retryBaseMs: config.retryBaseMs, retryMaxMs: config.retryMaxMs, maxAttempts: config.maxAttempts,
  }
  const noCredentials: Deliverer = async () => ({ kind: 'retry', reason: 'MPARTICLE_API_KEY/MPARTICLE_API_SECRET not set', retryAfterMs: 60_000 })
  const senders: Record<Sink, OutboxSender> = {
    mixpanel: new OutboxSender({ ...common, sink: 'mixpanel', deliver: mixpanelDeliverer(http), batchSize: config.engageBatchSize }),
    mparticle: new OutboxSender({
      ...common,
      sink: 'mparticle',
      deliver: config.mparticle.apiKey !== undefined && config.mparticle.apiSecret !== undefined
        ? mparticleDeliverer(http, config.mparticle.apiKey, config.mparticle.apiSecret)
        : noCredentials,
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
    config, app, store, metrics, logger,
    async start() {
      const recovered = await store.recoverInflight(Date.now())
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

export interface StartShimOptions {
  /** Environment variables (SPEC §10); defaults to `process.env`. */
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
  app: Hono
  metrics: Metrics
  store: Store
  /** Graceful: stop accepting, finish requests in progress, drain due updates, close the store. */
  close(): Promise<void>
}

/**
 * Starts the shim on a real socket.
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
  // SQLite runs in a worker thread when the compiled worker is there (always, once built).
  let store = opts.store
  if (store === undefined && config.sqliteWorker && workerAvailable()) {
    store = await WorkerStore.open({ path: config.dbPath, synchronous: config.sqliteSynchronous })
  }
  const shim = createShim({
    config,
    ...(opts.logger !== undefined ? { logger: opts.logger } : {}),
    ...(opts.http !== undefined ? { http: opts.http } : {}),
    ...(store !== undefined ? { store } : {}),
  })
  await shim.start()

  let server: Server
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: shim.app.fetch, port: config.port, hostname: config.host }) as Server
      s.once('listening', () => resolve(s))
      s.once('error', reject)
    })
  } catch (err) {
    await shim.stop(0)
    throw new Error(`cannot listen on ${config.host}:${config.port} (HOST/PORT): ${(err as Error).message}`)
  }
  const address = server.address() as AddressInfo
  const hostForUrl = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const url = `http://${hostForUrl}:${address.port}`
  shim.logger.info('shim listening', {
    url, db: config.dbPath, version: shimVersion(), auth: describeAuth(config),
    mixpanelApi: config.mixpanel.apiHost !== undefined
      ? withoutCredentials(config.mixpanel.apiHost)
      : `from target server (${config.mixpanel.targetServer ?? 'standard'})`,
    mparticleApi: withoutCredentials(config.mparticle.apiHost),
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
