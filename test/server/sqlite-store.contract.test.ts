import { join } from 'node:path'
import type { SqliteOptions } from '../../src/server/store/sqlite-core.js'
import { openSqliteStore } from '../../src/server/store/sqlite.js'
import { tempDir } from './helpers.js'
import { describeStore } from './store-contract.js'

const sqlite = (options: Omit<SqliteOptions, 'path'>) => async () => {
  const { dir, cleanup } = tempDir()
  const path = join(dir, 'shim.sqlite')
  const open = () => openSqliteStore({ path, ...options, worker: false })
  let store = await open()
  return {
    store,
    async reopen() {
      await store.close()
      store = await open()
      return store
    },
    async cleanup() {
      await store.close().catch(() => {})
      cleanup()
    },
  }
}

describeStore('SQLite', sqlite({ synchronous: 'normal' }))
// The default durability (an fdatasync of the WAL before a commit resolves), and claims and completions in
// steps of 2 rows, so every multi-row test crosses steps with other calls in between.
describeStore('SQLite, synchronous=full, outbox steps of 2 rows', sqlite({ synchronous: 'full', outboxChunk: 2 }))
