/** What only the SQLite backend has to prove: its transactions never hold network I/O, and its health probe sees a full disk. */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import Database from 'better-sqlite3'
import { SqliteCore } from '../../src/server/store/sqlite-core.js'
import { tempDir } from './helpers.js'

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c() })

const open = (): { core: SqliteCore; path: string } => {
  const { dir, cleanup } = tempDir()
  const path = join(dir, 'shim.sqlite')
  const core = new SqliteCore({ path, synchronous: 'normal' })
  cleanups.push(cleanup, () => core.close())
  return { core, path }
}
const write = (core: SqliteCore, key: string, userKey = key) => core.commit({
  dedupe: { source: 't', key }, writes: [], deleteScopes: [], now: 1,
  outgoing: [{ sink: 'mixpanel', dest: 'd', userKey, payload: { v: key } }],
})

describe('SqliteCore', () => {
  it('commits a webhook group before a claim, and the claim before it returns: a request is never sent from inside a transaction', async () => {
    const { core } = open()
    await write(core, 'u1')
    const pending = write(core, 'u2')
    // The second webhook's group is open (its COMMIT waits for the next turn of the event loop).
    expect(core.db.inTransaction).toBe(true)
    const claiming = core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 })
    expect(core.db.inTransaction).toBe(false)
    const claimed = await claiming
    expect(claimed?.rows.map((r) => r.userKey)).toEqual(['u1', 'u2'])
    await expect(pending).resolves.toEqual({ duplicate: false, queued: 1 })
  })

  it('fails the health probe, naming SHIM_DB, when the database cannot grow (a full disk)', async () => {
    const { core, path } = open()
    await expect(core.checkWritable(1)).resolves.toBeUndefined()
    const pages = core.db.pragma('page_count', { simple: true }) as number
    core.db.pragma(`max_page_count = ${pages}`)
    // Fill what is left, as webhooks would until the disk is full.
    const fill = core.db.prepare("INSERT INTO records (kind, scope, key, value, updated_at) VALUES ('membership', '', ?, hex(zeroblob(500)), 0)")
    expect(() => { for (let i = 0; ; i++) fill.run(`u${i}`) }).toThrow('database or disk is full')
    await expect(core.checkWritable(2)).rejects.toThrow(`cannot write to the SQLite database "${path}" (SHIM_DB): database or disk is full`)
  })

  it('with synchronous=full, resolves a commit only after the WAL\'s fdatasync, and acknowledges nothing once one failed', async () => {
    const { dir, cleanup } = tempDir()
    const path = join(dir, 'shim.sqlite')
    const core = new SqliteCore({ path, synchronous: 'full' })
    const fd = core as unknown as { walFd: number }
    const walFd = fd.walFd
    cleanups.push(cleanup, async () => { fd.walFd = walFd; await core.close() })
    await expect(write(core, 'u1')).resolves.toEqual({ duplicate: false, queued: 1 })
    // An fdatasync that fails (EBADF here; EIO on a failing disk): the commit was written but is not known to be on disk.
    fd.walFd = 1_000_000
    await expect(write(core, 'u2')).rejects.toThrow(`cannot sync (fdatasync) the WAL of the SQLite database "${path}" (SHIM_DB)`)
    fd.walFd = walFd
    await expect(write(core, 'u3')).rejects.toThrow('cannot sync (fdatasync)')
    await expect(core.checkWritable(3)).rejects.toThrow('cannot sync (fdatasync)')
  })

  it('claims in steps, and an older row of a user requeued between two steps still holds the user back', async () => {
    const { dir, cleanup } = tempDir()
    const core = new SqliteCore({ path: join(dir, 'shim.sqlite'), synchronous: 'normal', outboxChunk: 2 })
    cleanups.push(cleanup, () => core.close())
    await write(core, 'a')
    const failed = await core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 })
    core.keepFailed('o', failed!.rows.map((r) => r.id), 'HTTP 400', 1)
    for (const user of ['b', 'c', 'd', 'a', 'e']) await write(core, `${user}2`, user)
    const claiming = core.claim('mixpanel', { owner: 'p', max: 10, now: 1, leaseMs: 1000 })
    // The first step (b, c) runs at once; the next one after a turn of the event loop. In between, "a"'s failed row
    // becomes pending again: not part of this claim, it still holds "a" back.
    await new Promise((resolve) => setImmediate(resolve))
    expect(await core.requeueFailed('mixpanel', 1)).toBe(1)
    expect((await claiming)?.rows.map((r) => r.userKey)).toEqual(['b', 'c', 'd', 'e'])
    expect((await core.claim('mixpanel', { owner: 'q', max: 10, now: 1, leaseMs: 1000 }))?.rows.map((r) => r.userKey)).toEqual(['a', 'a'])
  })

  it('keeps the audience list in memory, and a write, a deleted scope or a rolled-back message drops it (never stale)', async () => {
    const { core } = open()
    const names = () => core.load({ scan: [{ kind: 'audience', scope: '' }] }).scans[0]![1].map((r) => [r.key, (r.value as { name: string }).name])
    const audience = (key: string, name: string) => ({ kind: 'audience' as const, scope: '', key, value: { name, removed: false, ts: 0 } })
    const commit = (key: string, writes: unknown[], deleteScopes: { kind: 'audience'; scope: string }[] = []) =>
      core.commit({ dedupe: { source: 't', key }, writes: writes as never, deleteScopes, outgoing: [], now: 1 })
    await commit('m1', [audience('1', 'Athenians')])
    expect(names()).toEqual([['1', 'Athenians']])
    // Read again from memory: the same frozen records, which no plan can change for the next one.
    expect(core.load({ scan: [{ kind: 'audience', scope: '' }] }).scans[0]![1]).toBe(core.load({ scan: [{ kind: 'audience', scope: '' }] }).scans[0]![1])
    expect(() => Object.assign(core.load({ scan: [{ kind: 'audience', scope: '' }] }).scans[0]![1][0]!.value as object, { name: 'x' })).toThrow()
    // A rename, written while the list is cached, is what the next message reads.
    await commit('m2', [audience('1', 'Spartans'), audience('2', 'Ibiza')])
    expect(names()).toEqual([['1', 'Spartans'], ['2', 'Ibiza']])
    // A message that fails after writing an audience rolls back alone: its audience is not read by the next one.
    await expect(commit('m3', [audience('3', 'Rolled back'), { kind: 'membership', scope: '', key: 'u', value: { n: 1n } }]))
      .rejects.toThrow('BigInt')
    expect(names()).toEqual([['1', 'Spartans'], ['2', 'Ibiza']])
    await commit('m4', [], [{ kind: 'audience', scope: '' }])
    expect(names()).toEqual([])
    // And what is in memory is what the file holds.
    await commit('m5', [audience('4', 'Corinthians')])
    expect(names()).toEqual([['4', 'Corinthians']])
    expect(core.db.prepare("SELECT key, json_extract(value, '$.name') FROM records WHERE kind = 'audience'").raw().all()).toEqual([['4', 'Corinthians']])
  })

  it('rolls back a failing message alone, whether it opened its group or joined it', async () => {
    const { core } = open()
    const bad = { kind: 'membership' as const, scope: '', key: 'bad', value: { n: 1n } }
    const message = (key: string, fail: boolean) => core.commit({
      dedupe: { source: 't', key }, writes: fail ? [bad] : [], deleteScopes: [], now: 1,
      outgoing: [{ sink: 'mixpanel', dest: 'd', userKey: key, payload: { v: key } }],
    })
    // In one turn of the event loop, so in one group: the first fails (and opened the group), the next two share a new one,
    // of which the last fails.
    const results = await Promise.allSettled([message('a', true), message('b', false), message('c', true), message('d', false)])
    expect(results.map((r) => r.status)).toEqual(['rejected', 'fulfilled', 'rejected', 'fulfilled'])
    expect(core.db.prepare('SELECT user_key FROM outbox_rows ORDER BY id').pluck().all()).toEqual(['b', 'd'])
    expect(core.db.prepare('SELECT key FROM dedupe ORDER BY key').pluck().all()).toEqual(['b', 'd'])
    // Nothing is left open: a claim hands out what was acknowledged.
    expect(core.db.inTransaction).toBe(false)
    expect((await core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 }))?.rows.map((r) => r.userKey)).toEqual(['b', 'd'])
  })

  it('keeps one index for claims and due counts: a file with the two it replaces loses them when it opens', async () => {
    const { dir, cleanup } = tempDir()
    const path = join(dir, 'shim.sqlite')
    cleanups.push(cleanup)
    const indexes = (db: Database.Database) => db.prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'outbox_rows' ORDER BY name").pluck().all()
    const first = new SqliteCore({ path, synchronous: 'normal' })
    await write(first, 'u1')
    // As the previous version of this schema left them.
    first.db.exec('CREATE INDEX outbox_rows_due ON outbox_rows (sink, state, next_attempt_at); CREATE INDEX outbox_rows_claim ON outbox_rows (sink, state, id)')
    await first.close()
    const core = new SqliteCore({ path, synchronous: 'normal' })
    cleanups.push(() => core.close())
    expect(indexes(core.db)).toEqual(['outbox_rows_sink_state', 'outbox_rows_user'])
    expect(core.dueSummary('mixpanel', 2)).toEqual({ due: 1, oldestDueCreatedAt: 1, nextDueAt: undefined })
    expect((await core.claim('mixpanel', { owner: 'o', max: 10, now: 2, leaseMs: 1000 }))?.rows.map((r) => r.userKey)).toEqual(['u1'])
  })

  it('refuses a second connection to the same file, naming it', () => {
    const { path } = open()
    expect(() => new SqliteCore({ path, synchronous: 'normal' })).toThrow(`the SQLite database "${path}" (SHIM_DB) is in use by another process`)
  })
})

describe('a database written by the first shim (schema 1)', () => {
  it('is upgraded in place: state, dedupe records and outbox rows (in order) are kept, and still delivered', async () => {
    const { dir, cleanup } = tempDir()
    cleanups.push(cleanup)
    const path = join(dir, 'v1.sqlite')
    const v1 = new Database(path)
    v1.exec(`
      CREATE TABLE inbound (source TEXT NOT NULL, message_key TEXT NOT NULL, received_at INTEGER NOT NULL, PRIMARY KEY (source, message_key)) WITHOUT ROWID;
      CREATE TABLE audiences (audience_id INTEGER PRIMARY KEY, name TEXT, removed INTEGER NOT NULL DEFAULT 0, ts INTEGER NOT NULL);
      CREATE TABLE memberships (user_key TEXT NOT NULL, audience_id INTEGER NOT NULL, member INTEGER NOT NULL, ts INTEGER NOT NULL, PRIMARY KEY (user_key, audience_id)) WITHOUT ROWID;
      CREATE TABLE cohorts (cohort_id TEXT PRIMARY KEY, name TEXT NOT NULL);
      CREATE TABLE cohort_members (cohort_id TEXT NOT NULL, member_key TEXT NOT NULL, identity TEXT NOT NULL, in_cohort INTEGER NOT NULL, PRIMARY KEY (cohort_id, member_key)) WITHOUT ROWID;
      CREATE TABLE snapshots (cohort_id TEXT NOT NULL, session_id TEXT NOT NULL, total_pages INTEGER NOT NULL, pages TEXT NOT NULL, complete INTEGER NOT NULL DEFAULT 0, updated_at INTEGER NOT NULL, PRIMARY KEY (cohort_id, session_id));
      CREATE TABLE snapshot_members (cohort_id TEXT NOT NULL, session_id TEXT NOT NULL, member_key TEXT NOT NULL, PRIMARY KEY (cohort_id, session_id, member_key)) WITHOUT ROWID;
      CREATE TABLE outbox (id INTEGER PRIMARY KEY, sink TEXT NOT NULL, dest TEXT NOT NULL, key TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, last_error TEXT);
      INSERT INTO inbound VALUES ('mparticle', 'm1', 10);
      INSERT INTO audiences VALUES (5, 'Five', 0, 3);
      INSERT INTO memberships VALUES ('mpid:9', 5, 1, 3), ('mpid:9', 6, 0, 4);
      INSERT INTO cohorts VALUES ('7', 'C');
      INSERT INTO cohort_members VALUES ('7', 'customer_id:d1', '{"type":"customer_id","value":"d1"}', 1);
      INSERT INTO snapshots VALUES ('7', 's', 2, '[0]', 0, 10);
      INSERT INTO outbox VALUES (1, 'mixpanel', 'http://mp tok', 'c1', '{"$token":"tok","$distinct_id":"c1","$ip":"0","$ignore_time":true,"$set":{"SegmentMembership":"''5''"}}', 'inflight', 0, 0, 1, 1, NULL);
      INSERT INTO outbox VALUES (2, 'mparticle', 'http://mpt', 'customer_id:d1', '{"identity":{"type":"customer_id","value":"d1"},"environment":"production","user_attributes":{"C":true}}', 'failed', 3, 0, 2, 2, 'HTTP 401');
      PRAGMA user_version = 1;
    `)
    v1.close()

    const core = new SqliteCore({ path, synchronous: 'normal' })
    cleanups.push(() => core.close())
    expect(core.db.pragma('user_version', { simple: true })).toBe(2)
    expect(core.seen('mparticle', 'm1')).toBe(true)
    const loaded = core.load({
      get: [{ kind: 'membership', scope: '', key: 'mpid:9' }, { kind: 'audience', scope: '', key: '5' }, { kind: 'cohort', scope: '', key: '7' }],
      scan: [{ kind: 'cohort_member', scope: '7' }, { kind: 'snapshot', scope: '7' }],
    })
    expect(loaded.gets.map(([, v]) => v)).toEqual([
      { audiences: { 5: { member: true, ts: 3 }, 6: { member: false, ts: 4 } } }, { name: 'Five', removed: false, ts: 3 }, { name: 'C' },
    ])
    expect(loaded.scans.map(([, rs]) => rs.map((r) => [r.key, r.value]))).toEqual([
      [['customer_id:d1', { identity: { type: 'customer_id', value: 'd1' }, in: true }]],
      [],
    ])
    expect((await core.claim('mixpanel', { owner: 'o', max: 10, now: 5, leaseMs: 1000 }))?.rows).toMatchObject([{ id: 1, userKey: 'c1', attempts: 0 }])
    expect(await core.requeueFailed('mparticle', 5)).toBe(1)
    const mp = await core.claim('mparticle', { owner: 'o', max: 10, now: 5, leaseMs: 1000 })
    expect(mp?.rows).toMatchObject([{ id: 2, userKey: 'customer_id:d1', attempts: 0 }])
  })
})
