import { join } from 'node:path'
import { openSqliteStore } from '../../src/server/store/sqlite.js'
import { tempDir } from './helpers.js'
import { describeStore } from './store-contract.js'

describeStore('SQLite', async () => {
  const { dir, cleanup } = tempDir()
  const path = join(dir, 'shim.sqlite')
  const open = () => openSqliteStore({ path, synchronous: 'normal', worker: false })
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
})
