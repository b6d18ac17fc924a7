// The demo's servers, startable in-process (tests) or from demo/start.mjs:
// a static demo site using the script-tag build, the local Mixpanel-compatible
// collector it sends to, the audience shim pointed at that collector, and a
// stand-in for mParticle's identity service so the real mParticle Web SDK runs
// on the page without any request to mParticle.
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { createServer } from 'node:http'
import { tmpdir } from 'node:os'
import { extname, join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { closeServer, listen, startCollector } from './collector.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const PUBLIC = fileURLToPath(new URL('./public/', import.meta.url))
const IIFE = join(ROOT, 'dist', 'mixpanel-device-mode.iife.js')
const SHIM_ENTRY = join(ROOT, 'dist', 'server', 'index.js')
const MPARTICLE_SDK = join(ROOT, 'node_modules', '@mparticle', 'web-sdk', 'dist', 'mparticle.js')
const TYPES = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png', '.svg': 'image/svg+xml' }
const MIXPANEL_HOSTS = 'https://api-js.mixpanel.com https://api-eu.mixpanel.com https://api-in.mixpanel.com'

export const DEFAULT_PORTS = { demo: 8080, collector: 8090, shim: 8787 }

/** The shared secret the demo gives the shim, so the curl example and the page's button can call it. */
export const DEMO_SHIM_SECRET = 'demo-secret'

/** The mParticle API key the page initialises the SDK with (the local identity stand-in accepts any). */
export const DEMO_MPARTICLE_KEY = 'demo-mparticle-key'

/**
 * The shell commands `npm start` prints and the README shows to try the shim:
 * what mParticle sends when user-42 joins audience 9001, then the collector's
 * records. A here-document, so the id and timestamp are fresh on every run (the
 * shim ignores a replayed id, and a change older than the last one it stored).
 */
export function shimCurl({ shimUrl, collectorUrl, secret = DEMO_SHIM_SECRET }) {
  return [
    `curl -s ${shimUrl}/mparticle -H 'Content-Type: application/json' -H 'X-Shim-Secret: ${secret}' -d @- <<EOF`,
    `{"type":"audience_membership_change_request","id":"curl-$(date +%s)","timestamp_ms":$(date +%s000),"firehose_version":"2.8.1",`,
    ` "account":{"account_id":1,"account_settings":{}},`,
    ` "user_profiles":[{"user_identities":[{"type":"customer","encoding":"raw","value":"user-42"}],"device_identities":[],`,
    `   "audiences":[{"audience_id":9001,"audience_name":"Power Users","action":"add"}]}]}`,
    'EOF',
    `curl -s ${collectorUrl}/records   # the engage $set the shim sent`,
  ].join('\n')
}

/**
 * The MPID the demo's identity service gives a user: the same for the same
 * key every time (`'customerid:user-42'`, `'anonymous'`, `'logged-out'`), shaped
 * like a real one (a signed 64-bit integer as a string).
 */
export function demoMpid(key) {
  return BigInt.asIntN(64, createHash('sha256').update(key).digest().readBigUInt64BE(0)).toString()
}

/**
 * Starts the demo.
 *
 * @param {object} [options]
 * @param {{ demo?: number, collector?: number, shim?: number }} [options.ports]
 *   0 picks a free port; a busy port falls back to a free one (reported through `log`).
 * @param {string} [options.host] default 127.0.0.1
 * @param {Record<string, string|undefined>} [options.env] reads MIXPANEL_TOKEN, DEMO_API_HOST, SHIM_LOG_LEVEL (default process.env)
 * @param {boolean} [options.shim] start the shim when it is built (default true)
 * @param {(line: string) => void} [options.log] default console.log
 * @param {(record: object) => void} [options.onRecord] called for every record the collector decodes
 */
export async function startDemo({ ports = {}, host = '127.0.0.1', env = process.env, shim: withShim = true, log = console.log, onRecord } = {}) {
  const want = { ...DEFAULT_PORTS, ...ports }
  const stops = []
  const close = async () => {
    for (const stop of stops.splice(0).reverse()) {
      try {
        await stop()
      } catch (error) {
        log(`while stopping: ${error?.message ?? error}`)
      }
    }
  }

  try {
    const audiences = audienceState()
    const collector = await withFallback('collector', want.collector, log, (port) =>
      startCollector({
        port,
        host,
        onRecord: (record) => {
          audiences.note(record)
          onRecord?.(record)
        },
      }),
    )
    stops.push(() => collector.close())

    const token = env.MIXPANEL_TOKEN || 'demo-token'
    const apiHost = env.DEMO_API_HOST || (env.MIXPANEL_TOKEN ? undefined : collector.url)
    const mode = env.DEMO_API_HOST ? 'proxy' : env.MIXPANEL_TOKEN ? 'mixpanel' : 'collector'

    const shim = withShim ? await startShimIfBuilt({ port: want.shim, host, collector, env, log }) : { running: undefined, reason: 'not requested' }
    // Stopped in reverse order: the shim drains and closes its store before its directory goes.
    if (shim.dir) stops.push(() => rm(shim.dir, { recursive: true, force: true }))
    if (shim.running) stops.push(() => shim.running.close())

    const config = {
      token,
      apiHost: apiHost ?? null,
      mode,
      collector: collector.url,
      shim: shim.running ? shim.running.url : null,
      shimUnavailable: shim.running ? null : shim.reason,
      // Same-origin paths: the SDK and its endpoints are served by the demo site itself.
      mparticle: existsSync(MPARTICLE_SDK) ? { apiKey: DEMO_MPARTICLE_KEY, sdk: '/mparticle/mparticle.js', base: '/mparticle/' } : null,
      mparticleUnavailable: existsSync(MPARTICLE_SDK) ? null : '@mparticle/web-sdk is not installed (npm install)',
    }
    const site = createSite({ config, shimUrl: shim.running?.url, audiences })
    const demoPort = await withFallback('demo site', want.demo, log, async (port) => {
      await listen(site, port, host)
      return site.address().port
    })
    stops.push(() => closeServer(site))
    const demo = { url: `http://${host}:${demoPort}/`, port: demoPort }

    return {
      demo,
      collector,
      shim: shim.running ? { url: shim.running.url, port: shim.running.port, secret: DEMO_SHIM_SECRET } : null,
      shimUnavailable: config.shimUnavailable,
      config,
      close,
    }
  } catch (error) {
    await close()
    throw error
  }
}

/** Tries `port`; when it is taken (or not allowed), says so and takes a free one. */
async function withFallback(what, port, log, start) {
  try {
    return await start(port)
  } catch (error) {
    if (port === 0 || (error?.code !== 'EADDRINUSE' && error?.code !== 'EACCES')) throw error
    log(`${what}: port ${port} is not available (${error.code}: ${error.message}); using a free port instead`)
    return start(0)
  }
}

async function startShimIfBuilt({ port, host, collector, env, log }) {
  if (!existsSync(SHIM_ENTRY)) return { reason: 'dist/server/index.js is not built (npm run build)' }
  let startShim
  try {
    ;({ startShim } = await import(pathToFileURL(SHIM_ENTRY).href))
  } catch (error) {
    return { reason: `dist/server/index.js could not be loaded: ${error?.message ?? error}` }
  }
  if (typeof startShim !== 'function') return { reason: 'dist/server/index.js does not export startShim()' }
  const dir = await mkdtemp(join(tmpdir(), 'mixpanel-device-mode-demo-'))
  const shimEnv = {
    MIXPANEL_TOKEN: 'demo-token',
    MIXPANEL_API_HOST: collector.url,
    SHIM_DB: join(dir, 'shim.sqlite'),
    MPARTICLE_SHARED_SECRET: DEMO_SHIM_SECRET,
    MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'true',
    SHIM_LOG_LEVEL: env.SHIM_LOG_LEVEL || 'warn',
    SHIM_BATCH_LINGER_MS: '200',
  }
  const attempt = async (p) => startShim({ env: shimEnv, port: p, host })
  try {
    const running = await withFallback('shim', port, log, async (p) => {
      try {
        return await attempt(p)
      } catch (error) {
        // startShim reports a busy port in its message; keep the code for the fallback.
        if (/EADDRINUSE|EACCES/.test(String(error?.message))) error.code ??= /EACCES/.test(error.message) ? 'EACCES' : 'EADDRINUSE'
        throw error
      }
    })
    return { running, dir }
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    return { reason: `the shim could not start: ${error?.message ?? error}` }
  }
}

/**
 * Whether a user is in an audience, as Mixpanel's profile says it: learnt from
 * the shim's engage records the collector receives (so a change made with the
 * printed curl counts too), and from each change the shim accepted for the
 * page (its engage update follows within the shim's batch linger).
 */
function audienceState() {
  const members = new Map()
  const key = (userId, audienceName) => `${userId}\n${audienceName}`
  return {
    note(record) {
      const set = record.body?.$set
      const userId = record.body?.$distinct_id
      // The page's own records carry its Origin; the shim's come from a server.
      if (record.origin || record.endpoint !== 'engage' || typeof userId !== 'string' || !set) return
      for (const [name, value] of Object.entries(set)) {
        if (name.startsWith('In ') && typeof value === 'boolean') members.set(key(userId, name.slice(3)), value)
      }
    },
    get: (userId, audienceName) => members.get(key(userId, audienceName)) ?? false,
    set: (userId, audienceName, member) => members.set(key(userId, audienceName), member),
  }
}

function createSite({ config, shimUrl, audiences }) {
  const connect = [`'self'`, config.collector, config.apiHost ?? MIXPANEL_HOSTS].join(' ')
  // The script-tag build needs no inline script, eval or third-party host.
  const csp = `default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src ${connect}`
  const headers = (type) => ({ 'Content-Type': `${type}; charset=utf-8`, 'Cache-Control': 'no-store', 'Content-Security-Policy': csp })

  return createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://demo')
    try {
      if (url.pathname === '/config.js') {
        res.writeHead(200, headers('text/javascript'))
        res.end(`window.DEMO_CONFIG = ${JSON.stringify(config).replace(/</g, '\\u003c')}\n`)
        return
      }
      if (url.pathname === '/dist/mixpanel-device-mode.iife.js') {
        res.writeHead(200, headers('text/javascript'))
        res.end(await readFile(IIFE))
        return
      }
      // Browsers ask for it on their own; a 404 would be an error on the console.
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204, { 'Cache-Control': 'max-age=86400' })
        res.end()
        return
      }
      if (url.pathname === '/mparticle/mparticle.js') {
        res.writeHead(200, headers('text/javascript'))
        res.end(await readFile(MPARTICLE_SDK))
        return
      }
      if (url.pathname.startsWith('/mparticle/')) {
        await mparticleService(req, res, url.pathname.slice('/mparticle/'.length))
        return
      }
      if (url.pathname === '/api/shim/audience') {
        if (req.method === 'POST') await forwardAudience(req, res, shimUrl, audiences)
        else {
          const member = audiences.get(url.searchParams.get('userId') ?? 'user-42', url.searchParams.get('audienceName') ?? 'Power Users')
          res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' })
          res.end(JSON.stringify({ member }))
        }
        return
      }
      const name = url.pathname === '/' ? 'index.html' : url.pathname.slice(1)
      if (!/^[a-z0-9-]+\.(html|js|css|png|svg)$/.test(name)) throw Object.assign(new Error('not found'), { status: 404 })
      const body = await readFile(join(PUBLIC, name))
      res.writeHead(200, headers(TYPES[extname(name)]))
      res.end(body)
    } catch (error) {
      const status = error?.status ?? (error?.code === 'ENOENT' ? 404 : 500)
      res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8' })
      res.end(status === 404 ? 'not found' : String(error?.message ?? error))
    }
  })
}

// mParticle's identity service, played by the demo server: the SDK's
// identityUrl points at /mparticle/identity/v1/. The MPID depends only on the
// customer id, so every run shows the same ones. The SDK's other endpoints
// (event batches, forwarding stats) are answered 202 and dropped.
async function mparticleService(req, res, path) {
  let input = ''
  for await (const chunk of req) input += chunk
  const match = /^identity\/v1\/(?:([^/]+)\/)?(identify|login|logout|modify)$/.exec(path)
  if (req.method !== 'POST' || !match || (match[1] !== undefined) !== (match[2] === 'modify')) {
    res.writeHead(req.method === 'POST' ? 202 : 404, { 'Content-Type': 'text/plain; charset=utf-8' })
    res.end()
    return
  }
  let request
  try {
    request = JSON.parse(input)
  } catch {
    request = null
  }
  if (request === null || typeof request !== 'object' || Array.isArray(request)) {
    res.writeHead(400, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ errors: [{ code: 'bad_request', message: 'the body is not a JSON object' }] }))
    return
  }
  const method = match[2]
  const known = request.known_identities ?? {}
  const customer = typeof known.customerid === 'string' && known.customerid !== '' ? known.customerid : null
  const previous = typeof request.previous_mpid === 'string' && request.previous_mpid !== '' ? request.previous_mpid : null
  let mpid
  if (method === 'modify') mpid = match[1]
  else if (method === 'logout') mpid = demoMpid('logged-out')
  else if (customer) mpid = demoMpid(`customerid:${customer}`)
  // identify without a customer id keeps the browser's current user (a reload after logout), else the anonymous one.
  else mpid = method === 'identify' && previous ? previous : demoMpid('anonymous')
  const answer = { context: null, mpid, is_logged_in: method !== 'logout' && customer !== null, is_ephemeral: false, matched_identities: {} }
  res.writeHead(200, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify(answer))
}

// The page's "audience shim" button: the demo server plays mParticle and
// sends a Firehose audience membership change to the shim (with its secret).
// Without an `action`, the change is the opposite of what Mixpanel's profile
// says now, so every click changes something and sends an engage update.
async function forwardAudience(req, res, shimUrl, audiences) {
  if (!shimUrl) {
    res.writeHead(503, { 'Content-Type': 'application/json' })
    res.end(JSON.stringify({ error: 'the shim is not running' }))
    return
  }
  let input = ''
  for await (const chunk of req) input += chunk
  const { userId = 'user-42', audienceId = 9001, audienceName = 'Power Users', action = audiences.get(userId, audienceName) ? 'delete' : 'add' } = JSON.parse(input || '{}')
  const message = audienceMessage({ userId, audienceId, audienceName, action })
  const answer = await fetch(`${shimUrl}/mparticle`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-Shim-Secret': DEMO_SHIM_SECRET },
    body: JSON.stringify(message),
  })
  if (answer.ok) audiences.set(userId, audienceName, action === 'add')
  res.writeHead(answer.status, { 'Content-Type': 'application/json' })
  res.end(JSON.stringify({ status: answer.status, action, member: audiences.get(userId, audienceName), answer: await answer.json().catch(() => null), sent: message }))
}

/** An mParticle Firehose audience membership change for one user (what mParticle posts to the shim). */
export function audienceMessage({ userId, audienceId, audienceName, action }) {
  return {
    type: 'audience_membership_change_request',
    id: `demo-${Date.now()}-${Math.random().toString(36).slice(2)}`,
    timestamp_ms: Date.now(),
    firehose_version: '2.8.1',
    account: { account_id: 1, account_settings: {} },
    user_profiles: [
      {
        user_identities: [{ type: 'customer', encoding: 'raw', value: userId }],
        device_identities: [],
        audiences: [{ audience_id: audienceId, audience_name: audienceName, action }],
      },
    ],
  }
}
