/**
 * The SQLite file's lock and its WAL checkpoints (sqlite-core.ts `takeLock`,
 * sqlite-checkpoints.ts): the database connection no longer holds SQLite's
 * exclusive lock, so a second connection (the checkpoint thread) can copy the
 * WAL while webhooks are written, and a second shim is refused by the lock
 * file instead.
 */
import { existsSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { SqliteCore } from '../../src/server/store/sqlite-core.js'
import { Checkpointer } from '../../src/server/store/sqlite-checkpoints.js'
import { tempDir } from './helpers.js'

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

const open = (options: { checkpointThread?: boolean } = {}): { core: SqliteCore; path: string } => {
  const { dir, cleanup } = tempDir()
  const path = join(dir, 'shim.sqlite')
  const core = new SqliteCore({ path, synchronous: 'normal', ...options })
  cleanups.push(cleanup, () => core.close())
  return { core, path }
}

/** A second connection, as the checkpoint thread opens it. */
const second = (path: string): Database.Database => {
  const db = new Database(path, { fileMustExist: true, timeout: 0 })
  cleanups.push(() => { db.close() })
  return db
}
const passive = (db: Database.Database) => (db.pragma('wal_checkpoint(PASSIVE)') as { busy: number; log: number; checkpointed: number }[])[0]!

/** About `n` pages of WAL: webhooks whose outbox rows carry 4 KB each. */
async function writePages(core: SqliteCore, n: number, from = 0): Promise<void> {
  for (let i = from; i < from + n; i++) {
    await core.commit({
      dedupe: { source: 't', key: `k${i}` }, writes: [], deleteScopes: [], now: 1,
      outgoing: [{ sink: 'mixpanel', dest: 'd', userKey: `u${i}`, payload: { v: 'x'.repeat(4000) } }],
    })
  }
}

describe('the SQLite file lock and WAL checkpoints', () => {
  it('lets a second connection checkpoint the WAL while the shim has the file open', async () => {
    const { core, path } = open()
    await writePages(core, 20)
    const r = passive(second(path))
    expect(r.busy).toBe(0)
    expect(r.log).toBeGreaterThan(0)
    // Every committed frame is copied into the database.
    expect(r.checkpointed).toBe(r.log)
  })

  it('copies what was committed while the shim holds a write transaction open, without waiting for it', async () => {
    const { core, path } = open()
    await writePages(core, 5)
    const pending = writePages(core, 1, 5)
    // The second message's group is open: its COMMIT waits for the next turn of the event loop.
    expect(core.db.inTransaction).toBe(true)
    const r = passive(second(path))
    expect(r.busy).toBe(0)
    expect(r.checkpointed).toBe(r.log)
    await pending
    await expect(core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 })).resolves.toMatchObject({ rows: { length: 6 } })
  })

  it('the checkpoint connection copies the WAL as a second connection does, and names SHIM_DB when the file is missing', async () => {
    const { core, path } = open({ checkpointThread: true })
    await writePages(core, 30)
    const checkpointer = new Checkpointer(path)
    cleanups.push(() => checkpointer.close())
    const r = checkpointer.passive()
    expect(r.busy).toBe(0)
    expect(r.log).toBeGreaterThanOrEqual(30)
    expect(r.checkpointed).toBe(r.log)
    // It never creates a database: it opens the shim's, after the shim did.
    expect(() => new Checkpointer(`${path}.missing`)).toThrow(`cannot open the SQLite database "${path}.missing" (SHIM_DB) for checkpoints`)
  })

  it('with a checkpoint thread, commits leave the WAL to it up to the ceiling: no checkpoint inside a COMMIT at 1,000 pages', async () => {
    const { core, path } = open({ checkpointThread: true })
    await writePages(core, 1500)
    const r = passive(second(path))
    // SQLite's default would have checkpointed and restarted the WAL at 1,000 pages inside a COMMIT.
    expect(r.log).toBeGreaterThan(1500)
    expect(r.checkpointed).toBe(r.log)
    expect(core.db.pragma('wal_autocheckpoint', { simple: true })).toBe(10_000)
  })

  it('refuses a second shim through the lock file, before it opens the database, while readers are let in', () => {
    const { path } = open()
    // The database itself is not locked against other connections (the checkpoint thread's)...
    expect(second(path).prepare('SELECT count(*) FROM outbox_rows').pluck().get()).toBe(0)
    expect(existsSync(`${path}-lock`)).toBe(true)
    // ...but a second shim is refused, naming the file.
    expect(() => new SqliteCore({ path, synchronous: 'normal' })).toThrow(`the SQLite database "${path}" (SHIM_DB) is in use by another process`)
  })

  it('refuses a second shim whose database file does not exist yet, and creates none, while the lock is held', () => {
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup)
    const fresh = join(dir, 'shim.sqlite')
    // What a running shim holds (sqlite-core.ts, `takeLock`).
    const heldFresh = new Database(`${fresh}-lock`)
    cleanups.push(() => { heldFresh.close() })
    heldFresh.pragma('locking_mode = EXCLUSIVE')
    heldFresh.exec('BEGIN EXCLUSIVE')
    expect(() => new SqliteCore({ path: fresh, synchronous: 'normal' })).toThrow(`the SQLite database "${fresh}" (SHIM_DB) is in use by another process`)
    expect(existsSync(fresh)).toBe(false)
  })

  it('releases the lock at close: the next shim opens the same file', async () => {
    const { core, path } = open()
    await writePages(core, 3)
    await core.close()
    const next = new SqliteCore({ path, synchronous: 'normal' })
    cleanups.push(() => next.close())
    expect(next.dueSummary('mixpanel', 2).due).toBe(3)
  })
})

describe('claims and completions in steps', () => {
  it('hands each claim step\'s rows to `onStep` as soon as they are leased, in order, with as many rows per step as `stepRows` says', async () => {
    const { core } = open()
    for (const k of ['a', 'b', 'c', 'd', 'e', 'f']) {
      await core.commit({ dedupe: undefined, writes: [], deleteScopes: [], now: 1, outgoing: [{ sink: 'mixpanel', dest: 'd', userKey: k, payload: { k } }] })
    }
    // The worker's rule: fewer rows per step while webhooks wait (sqlite-worker.ts).
    const sizes = [3, 1, 2]
    core.stepRows = () => sizes.shift() ?? 10
    const steps: string[][] = []
    const claimed = await core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 }, (rows) => steps.push(rows.map((r) => r.userKey)))
    expect(steps).toEqual([['a', 'b', 'c'], ['d'], ['e', 'f']])
    expect(claimed).toEqual({ sink: 'mixpanel', dest: 'd', rows: [] })
    // Leased, all of them: a second claim finds nothing.
    expect(await core.claim('mixpanel', { owner: 'p', max: 10, now: 1, leaseMs: 1000 })).toBeUndefined()
  })

  it('completes in steps of `stepRows` rows, each its own transaction', async () => {
    const { core } = open()
    for (const k of ['a', 'b', 'c', 'd', 'e']) {
      await core.commit({ dedupe: undefined, writes: [], deleteScopes: [], now: 1, outgoing: [{ sink: 'mixpanel', dest: 'd', userKey: k, payload: { k } }] })
    }
    const claimed = await core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 })
    const sizes = [2, 1]
    core.stepRows = () => sizes.shift() ?? 10
    const left: number[] = []
    core.betweenSteps = async () => { left.push(core.gauges(1)[0]!.inflight) }
    await core.complete('o', claimed!.rows.map((r) => r.id))
    // Between two steps: 5 − 2, then 5 − 2 − 1 rows still in flight.
    expect(left).toEqual([3, 2])
    expect(core.gauges(1)[0]!.inflight).toBe(0)
  })
})

describe('the lock file under /healthz', () => {
  it('fails the health probe, naming the lock file and SHIM_DB, once the lock file was deleted while the shim runs', async () => {
    const { core, path } = open()
    await expect(core.checkWritable(1)).resolves.toBeUndefined()
    rmSync(`${path}-lock`)
    await expect(core.checkWritable(2)).rejects.toThrow(`the lock file "${path}-lock" of the SQLite database "${path}" (SHIM_DB) was deleted or replaced`)
  })
})
