/**
 * WAL checkpoints off the thread that applies webhooks.
 *
 * SQLite's automatic checkpoint runs inside a COMMIT, on the connection that
 * wrote it: every 1,000 WAL pages (about every 20 commits at 20,000
 * changes/s) the SQLite worker copied the WAL into the database and synced
 * both files, 10–40 ms during which no webhook was applied and the group's
 * fdatasync could not start (docs/shim.md, "Benchmark"). Here a second
 * connection, in a thread of its own, runs a PASSIVE checkpoint every
 * `CHECKPOINT_INTERVAL_MS`: it copies what was committed before it started,
 * while the worker goes on writing, and never blocks it.
 *
 * The WAL restarts from its beginning only when a write begins with every
 * frame copied; under a steady write load that seldom happens between two
 * passes, so the writer keeps SQLite's automatic checkpoint as a ceiling
 * (`WAL_CEILING_PAGES`): it copies the few frames the passes have not, then
 * the WAL restarts. If this thread stops, the writer's own checkpoints take
 * over at that size.
 */
import Database from 'better-sqlite3'

/** Time between two passive checkpoints: about 1.6 MB of WAL at 20,000 changes/s, and one sync of the database file. */
export const CHECKPOINT_INTERVAL_MS = 200

/**
 * WAL pages (4 KiB) at which the writer checkpoints by itself (SQLite's
 * `wal_autocheckpoint`, 1,000 by default): about 40 MB of WAL on disk at most
 * while this thread keeps up, and a bound if it does not.
 */
export const WAL_CEILING_PAGES = 10_000

/** What `PRAGMA wal_checkpoint` answers: frames in the WAL, and how many of them are in the database now. */
export interface CheckpointResult { busy: number; log: number; checkpointed: number }

/** A connection that only checkpoints: it reads no table and writes nothing, so it needs neither the schema nor the lock. */
export class Checkpointer {
  private readonly db: Database.Database

  constructor(readonly path: string) {
    try {
      this.db = new Database(path, { fileMustExist: true, timeout: 0 })
    } catch (err) {
      throw new Error(`cannot open the SQLite database "${path}" (SHIM_DB) for checkpoints: ${(err as Error).message}`)
    }
  }

  /** Copies the frames committed so far without waiting for the writer; busy when another checkpoint runs. */
  passive(): CheckpointResult {
    return (this.db.pragma('wal_checkpoint(PASSIVE)') as CheckpointResult[])[0]!
  }

  close(): void {
    if (this.db.open) this.db.close()
  }
}
