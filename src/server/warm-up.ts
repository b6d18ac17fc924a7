/**
 * Warm-up of the HTTP thread's webhook path (the store's thread warms its own
 * part: store/warm-up.ts): synthetic membership webhooks through a second app
 * on a throw-away in-memory store, served by @hono/node-server on an
 * ephemeral loopback port that is closed before the real one is bound. It
 * compiles the adapter, the routes, authentication, body reading, JSON
 * parsing, validation and flow planning before the first real webhook needs
 * them. A sender of its own delivers the engage updates of those webhooks
 * to that same loopback server (claim, coalesce, fetch, complete: the first
 * engage batch of a fresh process stalled the HTTP thread 12–25 ms). Nothing
 * is stored in the real store and nothing leaves the process's loopback
 * server: the real senders are not started yet.
 */
import { request, Agent, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import type { Hono } from 'hono'
import { createApp } from './app.js'
import { loadConfig } from './config.js'
import { mixpanelEngage } from './destinations/mixpanel-engage/index.js'
import { fetchHttpClient } from './http-client.js'
import { silentLogger } from './logger.js'
import { Metrics } from './metrics.js'
import { Sender } from './sender.js'
import { openSqliteStore } from './store/sqlite.js'
import { WARM_UP_WEBHOOKS, warmUpBody } from './store/warm-up.js'

const SECRET = 'warm-up-secret'
/** Requests in flight at once, as a few webhook connections would be. */
const CONNECTIONS = 4

/** Sends `webhooks` synthetic webhooks through a throw-away app; resolves to the milliseconds it took. */
export async function warmUpHttp(webhooks = WARM_UP_WEBHOOKS): Promise<number> {
  const started = performance.now()
  // In this thread, on `:memory:`: no lock file, no fsync, no worker.
  const store = await openSqliteStore({ path: ':memory:', synchronous: 'normal', worker: false })
  const metrics = new Metrics()
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  let app: Hono<any> | undefined
  let server: Server | undefined
  let sender: Sender | undefined
  try {
    server = await new Promise<Server>((resolve, reject) => {
      // The engage endpoint of this warm-up's sender, beside the app's routes.
      const fetch = async (req: Request, env: unknown): Promise<Response> => {
        if (new URL(req.url).pathname !== '/engage') return (app as Hono<any>).fetch(req, env)
        await req.text()
        return new Response('{"status":1,"error":null}', { headers: { 'content-type': 'application/json' } })
      }
      const s = serve({ fetch, port: 0, hostname: '127.0.0.1' }) as Server
      s.once('listening', () => resolve(s))
      s.once('error', reject)
    })
    const { port } = server.address() as AddressInfo
    const config = loadConfig({
      MIXPANEL_TOKEN: 'warm-up', MIXPANEL_API_HOST: `http://127.0.0.1:${port}`, SHIM_DB: ':memory:', MPARTICLE_SHARED_SECRET: SECRET,
    })
    const s = new Sender({
      destination: mixpanelEngage, store, http: fetchHttpClient(5_000), owner: 'warm-up', batchSize: config.engageBatchSize,
      lingerMs: 0, retryBaseMs: 1_000, retryMaxMs: 1_000, retryAfterMaxMs: 1_000, maxAttempts: 1, leaseMs: 60_000, metrics, logger: silentLogger,
    })
    sender = s
    app = createApp({ config, store, metrics, logger: silentLogger, notify: () => s.notify(), version: 'warm-up' })
    s.start()
    let next = 0
    const connection = async (): Promise<void> => {
      while (next < webhooks) await post(agent, port, warmUpBody(next++))
    }
    await Promise.all(Array.from({ length: CONNECTIONS }, connection))
  } finally {
    await sender?.stop(2_000)
    agent.destroy()
    if (server !== undefined) {
      const s = server
      server.closeAllConnections()
      await new Promise<void>((resolve) => s.close(() => resolve()))
    }
    await store.close()
  }
  return performance.now() - started
}

function post(agent: Agent, port: number, body: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: '/mparticle', method: 'POST', agent,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-shim-secret': SECRET },
    }, (res) => {
      res.resume()
      res.on('end', () => {
        if (res.statusCode === 200) resolve()
        else reject(new Error(`a warm-up webhook was answered ${res.statusCode}`))
      })
    })
    req.on('error', reject)
    req.end(body)
  })
}
