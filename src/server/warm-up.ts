/**
 * Warm-up of the HTTP thread's webhook path (the store's thread warms its own
 * part: store/warm-up.ts): synthetic membership webhooks through a second app
 * on a throw-away in-memory store, served by @hono/node-server on an
 * ephemeral loopback port that is closed before the real one is bound. It
 * compiles the adapter, the routes, authentication, body reading, JSON
 * parsing, validation and flow planning before the first real webhook needs
 * them. Nothing is stored in the real store and no sender exists, so nothing
 * is sent.
 */
import { request, Agent, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { serve } from '@hono/node-server'
import { createApp } from './app.js'
import { loadConfig } from './config.js'
import { silentLogger } from './logger.js'
import { Metrics } from './metrics.js'
import { openSqliteStore } from './store/sqlite.js'
import { WARM_UP_WEBHOOKS, warmUpBody } from './store/warm-up.js'

const SECRET = 'warm-up-secret'
/** Requests in flight at once, as a few webhook connections would be. */
const CONNECTIONS = 4

/** Sends `webhooks` synthetic webhooks through a throw-away app; resolves to the milliseconds it took. */
export async function warmUpHttp(webhooks = WARM_UP_WEBHOOKS): Promise<number> {
  const started = performance.now()
  const config = loadConfig({ MIXPANEL_TOKEN: 'warm-up', MIXPANEL_API_HOST: 'http://127.0.0.1:9', SHIM_DB: ':memory:', MPARTICLE_SHARED_SECRET: SECRET })
  // In this thread, on `:memory:`: no lock file, no fsync, no worker.
  const store = await openSqliteStore({ path: ':memory:', synchronous: 'normal', worker: false })
  const app = createApp({ config, store, metrics: new Metrics(), logger: silentLogger, notify: () => {}, version: 'warm-up' })
  const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS })
  let server: Server | undefined
  try {
    server = await new Promise<Server>((resolve, reject) => {
      const s = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server
      s.once('listening', () => resolve(s))
      s.once('error', reject)
    })
    const { port } = server.address() as AddressInfo
    let next = 0
    const connection = async (): Promise<void> => {
      while (next < webhooks) await post(agent, port, warmUpBody(next++))
    }
    await Promise.all(Array.from({ length: CONNECTIONS }, connection))
  } finally {
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
