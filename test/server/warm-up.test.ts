/**
 * The warm-up before listening (`SHIM_WARM_UP`, src/server/warm-up.ts and
 * src/server/store/warm-up.ts): its synthetic webhooks go through throw-away
 * in-memory stores only, so the real database stays empty and no destination
 * gets a request. Through the compiled server, where the store runs in its
 * worker thread as in production (from the TypeScript sources there is no
 * worker to warm).
 */
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import Database from 'better-sqlite3'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../../src/server/config.js'
import { createLogger } from '../../src/server/logger.js'
import type { startShim as StartShim } from '../../src/server/shim.js'
import { warmUpCore } from '../../src/server/store/warm-up.js'
import { warmUpHttp } from '../../src/server/warm-up.js'
import { MockUpstream, tempDir, testEnv } from './helpers.js'

const root = resolve(__dirname, '../..')
// Inside the repository (so node_modules resolves) and git-ignored (.tmp/).
const buildDir = join(root, '.tmp', `shim-warm-up-test-${process.pid}`)
let startShim: typeof StartShim

beforeAll(async () => {
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.server.json'), '--outDir', buildDir], { cwd: root })
  startShim = ((await import(pathToFileURL(join(buildDir, 'shim.js')).href)) as { startShim: typeof StartShim }).startShim
}, 180_000)
afterAll(() => rmSync(buildDir, { recursive: true, force: true }))

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

describe('SHIM_WARM_UP', () => {
  it('is on by default; true / 1 / yes turn it on, false / 0 / no off; anything else is refused naming the variable', () => {
    expect(loadConfig(testEnv()).warmUp).toBe(true)
    expect(loadConfig(testEnv({ SHIM_WARM_UP: '1' })).warmUp).toBe(true)
    expect(loadConfig(testEnv({ SHIM_WARM_UP: 'yes' })).warmUp).toBe(true)
    expect(loadConfig(testEnv({ SHIM_WARM_UP: 'false' })).warmUp).toBe(false)
    expect(loadConfig(testEnv({ SHIM_WARM_UP: '0' })).warmUp).toBe(false)
    expect(loadConfig(testEnv({ SHIM_WARM_UP: 'no' })).warmUp).toBe(false)
    expect(loadConfig(testEnv({ SHIM_WARM_UP: 'TRUE' })).warmUp).toBe(true)
    expect(() => loadConfig(testEnv({ SHIM_WARM_UP: 'later' }))).toThrow(ConfigError)
    expect(() => loadConfig(testEnv({ SHIM_WARM_UP: 'later' }))).toThrow('`SHIM_WARM_UP` must be true or false (got "later")')
  })

  it('runs its synthetic webhooks to the end on both paths (a refused one would reject)', async () => {
    await expect(warmUpCore(12)).resolves.toEqual(expect.any(Number))
    await expect(warmUpHttp(12)).resolves.toEqual(expect.any(Number))
  })

  async function start(warmUp: string) {
    const mixpanel = await MockUpstream.start()
    const mparticle = await MockUpstream.start()
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup, () => mixpanel.close(), () => mparticle.close())
    const path = join(dir, 'shim.sqlite')
    const lines: string[] = []
    const shim = await startShim({
      port: 0,
      env: testEnv({ SHIM_DB: path, SHIM_WARM_UP: warmUp, SHIM_SQLITE_WORKER: 'true', MIXPANEL_API_HOST: mixpanel.url, MPARTICLE_API_HOST: mparticle.url }),
      logger: createLogger('info', (l) => lines.push(l)),
    })
    // close() drains every due update first: anything the warm-up had queued in SHIM_DB would reach a mock here.
    await shim.close()
    const listening = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'shim listening')
    const db = new Database(path, { readonly: true })
    const counts = Object.fromEntries(['dedupe', 'records', 'outbox_rows'].map((t) => [t, (db.prepare(`SELECT count(*) AS n FROM ${t}`).get() as { n: number }).n]))
    db.close()
    return { listening, counts, mixpanel, mparticle }
  }

  it('leaves nothing in the real database and sends nothing, with the store in its worker thread', async () => {
    const { listening, counts, mixpanel, mparticle } = await start('true')
    // It did run, in the store's thread and on the HTTP path (the start log gives both durations).
    expect(listening?.warmUpMs).toEqual({ store: expect.any(Number), http: expect.any(Number) })
    expect(counts).toEqual({ dedupe: 0, records: 0, outbox_rows: 0 })
    expect(mixpanel.requests).toEqual([])
    expect(mparticle.requests).toEqual([])
  }, 60_000)

  it('is skipped with SHIM_WARM_UP=false (no durations in the start log)', async () => {
    const { listening, counts } = await start('false')
    expect(listening).toBeDefined()
    expect(listening?.warmUpMs).toBeUndefined()
    expect(counts).toEqual({ dedupe: 0, records: 0, outbox_rows: 0 })
  }, 60_000)
})
