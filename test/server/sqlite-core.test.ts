/** What only the SQLite backend has to prove: its transactions never hold network I/O, and its health probe sees a full disk. */
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
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
const write = (core: SqliteCore, key: string) => core.commit({
  dedupe: { source: 't', key }, writes: [], deleteScopes: [], now: 1,
  outgoing: [{ sink: 'mixpanel', dest: 'd', userKey: key, payload: { v: key } }],
})

describe('SqliteCore', () => {
  it('commits a webhook group before a claim, and the claim before it returns: a request is never sent from inside a transaction', async () => {
    const { core } = open()
    await write(core, 'u1')
    const pending = write(core, 'u2')
    // The second webhook's group is open (its COMMIT waits for the next turn of the event loop).
    expect(core.db.inTransaction).toBe(true)
    const claimed = core.claim('mixpanel', { owner: 'o', max: 10, now: 1, leaseMs: 1000 })
    expect(core.db.inTransaction).toBe(false)
    expect(claimed?.rows.map((r) => r.userKey)).toEqual(['u1', 'u2'])
    await expect(pending).resolves.toEqual({ duplicate: false, queued: 1 })
  })

  it('fails the health probe, naming SHIM_DB, when the database cannot grow (a full disk)', async () => {
    const { core, path } = open()
    expect(() => core.checkWritable(1)).not.toThrow()
    const pages = core.db.pragma('page_count', { simple: true }) as number
    core.db.pragma(`max_page_count = ${pages}`)
    // Fill what is left, as webhooks would until the disk is full.
    const fill = core.db.prepare("INSERT INTO records (kind, scope, key, value, updated_at) VALUES ('membership', '', ?, hex(zeroblob(500)), 0)")
    expect(() => { for (let i = 0; ; i++) fill.run(`u${i}`) }).toThrow('database or disk is full')
    expect(() => core.checkWritable(2)).toThrow(`cannot write to the SQLite database "${path}" (SHIM_DB): database or disk is full`)
  })

  it('refuses a second connection to the same file, naming it', () => {
    const { path } = open()
    expect(() => new SqliteCore({ path, synchronous: 'normal' })).toThrow(`the SQLite database "${path}" (SHIM_DB) is in use by another process`)
  })
})
