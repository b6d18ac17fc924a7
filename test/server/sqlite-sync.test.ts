/**
 * The SQLite core's own fdatasync of the WAL, with the system call held by
 * the test: two may run at once, each acknowledges only the commits made
 * before it started, and the file is closed only once none runs.
 */
import { join } from 'node:path'
import { afterEach, describe, expect, it, vi } from 'vitest'

/** fdatasync calls the test has not answered yet. */
const pendingSyncs: ((err: NodeJS.ErrnoException | null) => void)[] = []
/** Between tests (closing the cores): every fdatasync answers at once. */
let answerAtOnce = false
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>()
  return {
    ...fs,
    fdatasync: (_fd: number, cb: (err: NodeJS.ErrnoException | null) => void) => {
      if (answerAtOnce) setImmediate(() => cb(null))
      else pendingSyncs.push(cb)
    },
  }
})

const { SqliteCore, SYNCS_IN_FLIGHT } = await import('../../src/server/store/sqlite-core.js')
const { tempDir } = await import('./helpers.js')

const cleanups: (() => void | Promise<void>)[] = []
afterEach(async () => {
  answerAtOnce = true
  for (const cb of pendingSyncs.splice(0)) cb(null)
  for (const c of cleanups.splice(0).reverse()) await c()
  answerAtOnce = false
})

const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe('SqliteCore with synchronous=full, fdatasync held by the test', () => {
  const open = () => {
    const { dir, cleanup } = tempDir()
    const core = new SqliteCore({ path: join(dir, 'shim.sqlite'), synchronous: 'full' })
    cleanups.push(cleanup, () => core.close())
    return core
  }
  const write = (core: InstanceType<typeof SqliteCore>, key: string) => {
    let settled = false
    const p = core.commit({ dedupe: { source: 't', key }, writes: [], deleteScopes: [], now: 1, outgoing: [] }).then((r) => { settled = true; return r })
    return { p, settled: () => settled }
  }

  it('starts a second fdatasync for a group committed while one runs, at most two at once, each answering only its own commits', async () => {
    expect(SYNCS_IN_FLIGHT).toBe(2)
    const core = open()
    const a = write(core, 'a')
    await turn()
    expect(pendingSyncs).toHaveLength(1)
    const b = write(core, 'b')
    await turn()
    // b's group committed while a's fdatasync runs: its own starts at once.
    expect(pendingSyncs).toHaveLength(2)
    const c = write(core, 'c')
    await turn()
    expect(pendingSyncs).toHaveLength(2)
    // The second fdatasync ends first: it began after b's COMMIT, not after c's, and a waits for its own.
    pendingSyncs.splice(1, 1)[0]!(null)
    await turn()
    expect([a.settled(), b.settled(), c.settled()]).toEqual([false, true, false])
    // A place is free: c's fdatasync starts.
    expect(pendingSyncs).toHaveLength(2)
    pendingSyncs.shift()!(null)
    await turn()
    expect([a.settled(), c.settled()]).toEqual([true, false])
    pendingSyncs.shift()!(null)
    await expect(c.p).resolves.toEqual({ duplicate: false, queued: 0 })
  })

  it('after one fdatasync fails, fails the commits waiting on the other one too, and acknowledges nothing more', async () => {
    const core = open()
    const a = write(core, 'a')
    await turn()
    const b = write(core, 'b')
    await turn()
    expect(pendingSyncs).toHaveLength(2)
    pendingSyncs.shift()!(Object.assign(new Error('EIO: i/o error'), { code: 'EIO' }))
    await expect(a.p).rejects.toThrow('cannot sync (fdatasync) the WAL')
    pendingSyncs.shift()!(null)
    await expect(b.p).rejects.toThrow('cannot sync (fdatasync) the WAL')
    await expect(write(core, 'c').p).rejects.toThrow('cannot sync (fdatasync) the WAL')
  })

  it('closes the file only once no fdatasync runs', async () => {
    const core = open()
    write(core, 'a')
    await turn()
    let closed = false
    const closing = core.close().then(() => { closed = true })
    // close's own fdatasync (covering everything committed) runs beside a's, and ends first.
    expect(pendingSyncs).toHaveLength(2)
    pendingSyncs.pop()!(null)
    await turn()
    expect(closed).toBe(false)
    expect(core.db.open).toBe(true)
    pendingSyncs.pop()!(null)
    await closing
    expect(core.db.open).toBe(false)
  })
})
