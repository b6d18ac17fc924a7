/**
 * Through the real Node server: startShim() on a random loopback port, and
 * the compiled CLI in a child process (kill -9 and restart, SIGTERM).
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { cpSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { startShim, type RunningShim } from '../../src/server/index.js'
import { silentLogger } from '../../src/server/logger.js'
import { MockUpstream, basic, cohort, engageUpdates, membership, profile, tempDir, waitFor } from './helpers.js'

const root = resolve(__dirname, '../..')
// Inside the repository (so node_modules resolves) and git-ignored (.tmp/).
const buildDir = join(root, '.tmp', `shim-cli-test-${process.pid}`)
const cli = join(buildDir, 'cli.js')

// Compile the server once, as `npm run build:server` does, into a private directory.
beforeAll(() => {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.server.json'), '--outDir', buildDir], { cwd: root })
}, 180_000)
afterAll(() => rmSync(buildDir, { recursive: true, force: true }))

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

const postJson = (url: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> =>
  fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })

describe('startShim() on a real socket', () => {
  it('runs both flows end to end with secrets, health and metrics over HTTP', async () => {
    const mixpanel = await MockUpstream.start()
    const mparticle = await MockUpstream.start({ status: 202 })
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close(), () => mparticle.close())
    const shim = await startShim({
      port: 0,
      logger: silentLogger,
      env: {
        HOST: '127.0.0.1', SHIM_DB: join(dir, 'shim.sqlite'), SHIM_BATCH_LINGER_MS: '0', SHIM_MAX_BODY_BYTES: '4096',
        MIXPANEL_TOKEN: 'tok', MIXPANEL_API_HOST: mixpanel.url, MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE: 'true',
        MPARTICLE_SHARED_SECRET: 'mp-secret', MIXPANEL_WEBHOOK_USER: 'u', MIXPANEL_WEBHOOK_PASSWORD: 'p',
        MPARTICLE_API_KEY: 'k', MPARTICLE_API_SECRET: 's', MPARTICLE_API_HOST: mparticle.url,
      },
    })
    cleanups.push(() => shim.close())
    expect(shim.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)

    const a = await postJson(`${shim.url}/mparticle`, membership([profile({ customer: 'c1', audiences: [[11034, 'Ibiza Dreamers', 'add']] })]),
      { 'x-shim-secret': 'mp-secret' })
    expect(a.status).toBe(200)
    const b = await postJson(`${shim.url}/mixpanel/cohorts`, cohort('add_members', [{ mixpanel_distinct_id: 'd1' }], { session: 's' }),
      { authorization: basic('u', 'p') })
    expect(await b.json()).toEqual({ action: 'add_members', status: 'success' })
    expect((await postJson(`${shim.url}/mparticle`, membership([]))).status).toBe(401)

    await waitFor(() => mixpanel.requests.length === 1 && mparticle.requests.length === 1)
    expect(engageUpdates(mixpanel)).toEqual([
      { $token: 'tok', $distinct_id: 'c1', $ip: '0', $ignore_time: true, $set: { SegmentMembership: "'11034'", 'In Ibiza Dreamers': true } },
    ])
    expect(mparticle.requests[0]!.body).toBe('[{"environment":"production","user_identities":{"customer_id":"d1"},"user_attributes":{"Power Users":true},"schema_version":2}]')
    expect(mparticle.requests[0]!.headers.authorization).toBe(basic('k', 's'))

    const big = await postJson(`${shim.url}/mparticle`, membership([profile({ customer: 'x'.repeat(6000), audiences: [[1, 'A', 'add']] })]),
      { 'x-shim-secret': 'mp-secret' })
    expect(big.status).toBe(413)

    expect(await (await fetch(`${shim.url}/healthz`)).json()).toMatchObject({ status: 'ok' })
    const metrics = await (await fetch(`${shim.url}/metrics`)).text()
    expect(metrics).toContain('shim_updates_sent_total{sink="mixpanel"} 1')
    expect(metrics).toContain('shim_updates_sent_total{sink="mparticle"} 1')
  })

  it('works as the demo starts it: a local collector, demo-token, no secrets, on 127.0.0.1', async () => {
    const collector = await MockUpstream.start({ status: 200, body: '1' })
    cleanups.push(() => collector.close())
    const shim = await startShim({
      port: 0,
      logger: silentLogger,
      env: { MIXPANEL_API_HOST: `http://127.0.0.1:${collector.port}`, MIXPANEL_TOKEN: 'demo-token', SHIM_DB: ':memory:', SHIM_BATCH_LINGER_MS: '0' },
    })
    cleanups.push(() => shim.close())
    const res = await postJson(`${shim.url}/mparticle`, membership([profile({ customer: 'demo-user', audiences: [[1, 'Demo', 'add']] })]))
    expect(res.status).toBe(200)
    await waitFor(() => collector.requests.length === 1)
    expect(collector.requests[0]!.url).toBe('/engage?verbose=1')
    expect(engageUpdates(collector)).toEqual([
      { $token: 'demo-token', $distinct_id: 'demo-user', $ip: '0', $ignore_time: true, $set: { SegmentMembership: "'1'" } },
    ])
  })
})

describe('the mixpanel-device-mode-shim bin without its optional peer packages', () => {
  // Compiled outside the repository, so no node_modules is found from it.
  const bare = join(tmpdir(), `shim-bare-${process.pid}`)
  beforeAll(() => {
    cpSync(buildDir, join(bare, 'dist/server'), { recursive: true })
    writeFileSync(join(bare, 'package.json'), '{"name":"mixpanel-device-mode","version":"0.0.0-test","type":"module"}')
  })
  afterAll(() => rmSync(bare, { recursive: true, force: true }))

  const runBare = (args: string[]): { status: number | null; out: string } => {
    const r = spawnSync(process.execPath, [join(bare, 'dist/server/cli.js'), ...args], { env: { PATH: process.env.PATH ?? '' }, encoding: 'utf8' })
    return { status: r.status, out: r.stdout + r.stderr }
  }

  it('prints --help and --version', () => {
    const help = runBare(['--help'])
    expect(help.status).toBe(0)
    expect(help.out).toContain('MIXPANEL_WEBHOOK_PASSWORD')
    expect(runBare(['--version'])).toEqual({ status: 0, out: '0.0.0-test\n' })
  })

  it('says in one line which packages to install when started', () => {
    const r = runBare([])
    expect(r.status).toBe(1)
    expect(r.out).toBe('mixpanel-device-mode-shim: the shim needs the optional peer packages hono, @hono/node-server, better-sqlite3 '
      + '("@hono/node-server" is missing): npm install hono @hono/node-server better-sqlite3\n')
  })
})

describe('the mixpanel-device-mode-shim CLI', () => {

  interface Running { child: ChildProcess; url: Promise<string>; output: () => string; exited: Promise<number | null> }

  const run = (env: Record<string, string>, args: string[] = []): Running => {
    const child = spawn(process.execPath, [cli, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    let resolveUrl: (u: string) => void = () => {}
    const url = new Promise<string>((r) => { resolveUrl = r })
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /"msg":"shim listening","url":"([^"]+)"/.exec(out)
      if (m?.[1] !== undefined) resolveUrl(m[1])
    })
    child.stderr!.on('data', (d: Buffer) => { out += d.toString() })
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)))
    cleanups.push(async () => { if (child.exitCode === null && child.signalCode === null) { child.kill('SIGKILL'); await exited } })
    return { child, url, output: () => out, exited }
  }

  it('prints every environment variable with --help', async () => {
    const p = run({}, ['--help'])
    expect(await p.exited).toBe(0)
    expect(p.output()).toContain('MIXPANEL_WEBHOOK_PASSWORD')
    expect(p.output()).toContain('SHIM_DB')
  })

  it('exits at once when the PostgreSQL of DATABASE_URL cannot be reached, naming it without the password', async () => {
    const p = run({ DATABASE_URL: 'postgres://shim:hunter2@127.0.0.1:1/shim' })
    expect(await p.exited).toBe(1)
    expect(p.output()).toContain('cannot prepare the PostgreSQL database at postgres://shim:***@127.0.0.1:1/shim (DATABASE_URL): connect ECONNREFUSED 127.0.0.1:1')
    expect(p.output()).not.toContain('hunter2')
  })

  it('loses nothing after kill -9 and resends only what was not confirmed', async () => {
    const mixpanel = await MockUpstream.start()
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close())
    const env = {
      PORT: '0', SHIM_DB: join(dir, 'shim.sqlite'), SHIM_LOG_LEVEL: 'info', MIXPANEL_TOKEN: 'tok', MIXPANEL_API_HOST: mixpanel.url,
      SHIM_ENGAGE_BATCH_SIZE: '2', SHIM_BATCH_LINGER_MS: '0', SHIM_RETRY_BASE_MS: '50', SHIM_RETRY_MAX_MS: '100',
    }
    // First request confirmed; the second never answered (in flight at the kill); the rest wait behind it.
    mixpanel.respond({ status: 200, body: '{"status":1,"error":null}' }, { hang: true })
    const first = run(env)
    const url = await first.url
    const users = ['u1', 'u2', 'u3', 'u4', 'u5']
    const res = await postJson(`${url}/mparticle`, membership(users.map((u) => profile({ customer: u, audiences: [[7, 'Seven', 'add']] }))))
    expect(res.status).toBe(200)
    await waitFor(() => mixpanel.requests.length === 2)
    first.child.kill('SIGKILL')
    expect(await first.exited).toBeNull()
    expect(mixpanel.bodies().map((b) => (b as { $distinct_id: string }[]).map((u) => u.$distinct_id))).toEqual([['u1', 'u2'], ['u3', 'u4']])

    const second = run(env)
    await second.url
    await waitFor(() => mixpanel.requests.length === 4, 10_000)
    const resent = mixpanel.bodies().slice(2).flatMap((b) => (b as { $distinct_id: string; $set: unknown }[]))
    // u3/u4 were never confirmed: sent again; u5 was still queued; u1/u2 are not sent twice.
    expect(resent.map((u) => u.$distinct_id).sort()).toEqual(['u3', 'u4', 'u5'])
    for (const u of resent) expect(u.$set).toEqual({ SegmentMembership: "'7'" })
    expect(second.output()).toContain('"msg":"requeued updates that were in flight when the shim stopped","updates":2')
    second.child.kill('SIGTERM')
    expect(await second.exited).toBe(0)
  }, 30_000)

  it('refuses a second shim on the same SHIM_DB at once, naming the file, before it releases anything (even on the same port)', async () => {
    const mixpanel = await MockUpstream.start()
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close())
    const db = join(dir, 'shim.sqlite')
    const env = { PORT: '0', SHIM_DB: db, MIXPANEL_TOKEN: 'tok', MIXPANEL_API_HOST: mixpanel.url, SHIM_BATCH_LINGER_MS: '0', SHIM_HTTP_TIMEOUT_MS: '1500' }
    // The first request stays in flight: its row is leased by the first shim.
    mixpanel.respond({ hang: true })
    const first = run(env)
    const url = await first.url
    await postJson(`${url}/mparticle`, membership([profile({ customer: 'u1', audiences: [[1, 'A', 'add']] })]))
    await waitFor(() => mixpanel.requests.length === 1)
    for (const port of ['0', new URL(url).port]) {
      const second = run({ ...env, PORT: port })
      expect(await second.exited).toBe(1)
      expect(second.output()).toContain(`mixpanel-device-mode-shim: cannot start: the SQLite database "${db}" (SHIM_DB) is in use by another process`)
      expect(second.output()).not.toContain('requeued')
    }
    // The first shim's lease was left alone: after its own timeout it sends the update once more, and that is all.
    await waitFor(() => mixpanel.requests.length === 2, 10_000)
    await waitFor(() => first.output().includes('"msg":"delivery will be retried"'))
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    expect(mixpanel.requests).toHaveLength(2)
  }, 30_000)

  it('requeues failed updates of a stopped shim with the requeue command', async () => {
    const mixpanel = await MockUpstream.start({ status: 400, body: '{"error":"bad"}' })
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close())
    const env = { PORT: '0', SHIM_DB: join(dir, 'shim.sqlite'), MIXPANEL_TOKEN: 'tok', MIXPANEL_API_HOST: mixpanel.url, SHIM_BATCH_LINGER_MS: '0' }
    const first = run(env)
    const url = await first.url
    await postJson(`${url}/mparticle`, membership(['a', 'b'].map((customer) => profile({ customer, audiences: [[1, 'A', 'add']] }))))
    await waitFor(() => first.output().includes('"msg":"updates kept as failed (requeue them once fixed)"'))
    first.child.kill('SIGTERM')
    expect(await first.exited).toBe(0)

    const requeue = run(env, ['requeue', '--sink', 'mixpanel'])
    expect(await requeue.exited).toBe(0)
    expect(requeue.output()).toBe('requeued 2 failed updates of mixpanel\n')
    mixpanel.fallback = { status: 200, body: '{"status":1,"error":null}' }
    // The batch of two, then each half, were refused.
    expect(mixpanel.requests).toHaveLength(3)
    const second = run(env)
    await second.url
    await waitFor(() => mixpanel.requests.length === 4)
    expect((mixpanel.bodies()[3] as { $distinct_id: string }[]).map((u) => u.$distinct_id)).toEqual(['a', 'b'])
  }, 30_000)

  it('under kill -9 with webhooks in flight: 1,600 changes, 3 kills, 0 lost, 0 out of order', async () => {
    // 400 users × 4 passes in 80 webhooks, 4 in flight; a webhook not answered 200 is sent again, as mParticle does.
    const USERS = 400
    const PASSES = 4
    const mixpanel = await MockUpstream.start()
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close())
    const env = { PORT: '0', SHIM_DB: join(dir, 'shim.sqlite'), MIXPANEL_TOKEN: 'tok', MIXPANEL_API_HOST: mixpanel.url, SHIM_BATCH_LINGER_MS: '20',
      SHIM_ENGAGE_BATCH_SIZE: '100', SHIM_LOG_LEVEL: 'info' }
    const bodies: unknown[] = []
    for (let pass = 0; pass < PASSES; pass++) {
      for (let first = 0; first < USERS; first += 20) {
        bodies.push(membership(Array.from({ length: 20 }, (_, i) => profile({ customer: `u${first + i}`, audiences: [[100 + pass, `A${pass}`, 'add']] })),
          { id: `kill-${pass}-${first}`, ts: 1000 + pass }))
      }
    }
    let shim = run(env)
    let current = shim.url
    let answered = 0
    let kills = 0
    const killAt = [20, 40, 60]
    let next = 0
    await Promise.all(Array.from({ length: 4 }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]
        for (;;) {
          const url = await current
          const ok = await postJson(`${url}/mparticle`, body).then((r) => r.status === 200, () => false)
          if (ok) break
        }
        answered++
        if (kills < killAt.length && answered >= killAt[kills]!) {
          kills++
          shim.child.kill('SIGKILL')
          await shim.exited
          shim = run(env)
          current = shim.url
        }
      }
    }))
    const want = "'100','101','102','103'"
    await waitFor(() => {
      const last = new Map(engageUpdates(mixpanel).map((u) => [u.$distinct_id as string, (u.$set as { SegmentMembership: string }).SegmentMembership]))
      return last.size === USERS && [...last.values()].every((v) => v === want)
    }, 30_000, 'every user\'s final membership')
    let outOfOrder = 0
    const seen = new Map<string, number>()
    for (const u of engageUpdates(mixpanel)) {
      const n = (u.$set as { SegmentMembership: string }).SegmentMembership.split(',').length
      if (n < (seen.get(u.$distinct_id as string) ?? 0)) outOfOrder++
      seen.set(u.$distinct_id as string, n)
    }
    const last = new Map(engageUpdates(mixpanel).map((u) => [u.$distinct_id as string, (u.$set as { SegmentMembership: string }).SegmentMembership]))
    const lost = [...Array(USERS).keys()].filter((u) => last.get(`u${u}`) !== want).length
    expect({ changes: USERS * PASSES, kills, lost, outOfOrder }).toEqual({ changes: 1600, kills: 3, lost: 0, outOfOrder: 0 })
    shim.child.kill('SIGTERM')
    expect(await shim.exited).toBe(0)
  }, 180_000)

  it('drains pending updates on SIGTERM and exits 0', async () => {
    const mixpanel = await MockUpstream.start()
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close())
    const p = run({ PORT: '0', SHIM_DB: join(dir, 'shim.sqlite'), MIXPANEL_TOKEN: 'tok', MIXPANEL_API_HOST: mixpanel.url, SHIM_BATCH_LINGER_MS: '600000' })
    const url = await p.url
    await postJson(`${url}/mparticle`, membership([profile({ customer: 'late', audiences: [[1, 'A', 'add']] })]))
    expect(mixpanel.requests).toHaveLength(0)
    p.child.kill('SIGTERM')
    expect(await p.exited).toBe(0)
    expect(engageUpdates(mixpanel).map((u) => u.$distinct_id)).toEqual(['late'])
    expect(p.output()).toContain('"msg":"shutting down","signal":"SIGTERM"')
  }, 30_000)
})
