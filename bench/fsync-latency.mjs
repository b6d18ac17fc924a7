#!/usr/bin/env node
/**
 * What an fdatasync costs on this disk (a script, not a test): the floor of
 * the shim's webhook latency with SHIM_SQLITE_SYNCHRONOUS=full, since a
 * webhook is answered only after an fdatasync of the WAL that began after
 * its COMMIT (docs/shim.md, "Benchmark"). Writes as the shim's store does at
 * 20,000 changes/s (FSYNC_BYTES_PER_SECOND, default 8 MB/s, in 4 KiB pages
 * every FSYNC_WRITE_EVERY_MS, over a FSYNC_FILE_MB file reused from its start
 * like a WAL after a checkpoint) while fdatasyncs run back to back on
 * libuv's thread pool, as the store's do; prints their duration distribution.
 *
 *   node bench/fsync-latency.mjs            (FSYNC_SECONDS=10, FSYNC_DIR=os.tmpdir())
 */
import { closeSync, fdatasync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs'
import os from 'node:os'
import { join } from 'node:path'

const num = (name, def) => (process.env[name] ? Number(process.env[name]) : def)
const SECONDS = num('FSYNC_SECONDS', 10)
const BYTES_PER_SECOND = num('FSYNC_BYTES_PER_SECOND', 8_000_000)
const WRITE_EVERY_MS = num('FSYNC_WRITE_EVERY_MS', 5)
const FILE_BYTES = num('FSYNC_FILE_MB', 4) * 1_000_000
const PAGE = 4096

const dir = mkdtempSync(join(process.env.FSYNC_DIR ?? os.tmpdir(), 'fsync-latency-'))
const fd = openSync(join(dir, 'wal'), 'w+')
const page = Buffer.alloc(PAGE, 7)
const pagesPerWrite = Math.max(1, Math.round((BYTES_PER_SECOND * WRITE_EVERY_MS) / 1000 / PAGE))
let offset = 0
const durations = []
const end = performance.now() + SECONDS * 1000

const writer = setInterval(() => {
  for (let i = 0; i < pagesPerWrite; i++) {
    writeSync(fd, page, 0, PAGE, offset)
    offset = (offset + PAGE) % FILE_BYTES
  }
}, WRITE_EVERY_MS)

await new Promise((resolve, reject) => {
  const sync = () => {
    const t0 = performance.now()
    fdatasync(fd, (err) => {
      if (err) return reject(err)
      durations.push(performance.now() - t0)
      if (performance.now() < end) sync()
      else resolve()
    })
  }
  sync()
})
clearInterval(writer)
closeSync(fd)
rmSync(dir, { recursive: true, force: true })

durations.sort((a, b) => a - b)
const p = (q) => durations[Math.min(durations.length - 1, Math.floor(q * durations.length))].toFixed(1)
console.log(`fdatasync on ${dir} while writing ${(BYTES_PER_SECOND / 1e6).toFixed(1)} MB/s (${pagesPerWrite} pages every ${WRITE_EVERY_MS} ms), `
  + `${durations.length} syncs in ${SECONDS} s, load ${os.loadavg()[0].toFixed(2)}:`)
console.log(`p50 ${p(0.5)} · p95 ${p(0.95)} · p99 ${p(0.99)} · max ${durations.at(-1).toFixed(1)} ms`)
