/**
 * Runs jobs in arrival order, in slices of at most about `sliceMs` of the
 * thread's time, and gives the event loop a turn between two slices.
 *
 * The SQLite worker's messages go through one (sqlite-worker.ts). Node hands
 * a thread every message already waiting in one go; run as they arrived, a
 * backlog of webhooks (after a claim step or a checkpoint) was applied back to
 * back for tens of milliseconds, during which no group could commit (its
 * COMMIT waits for the next turn), no finished fdatasync could answer its
 * webhooks, and the first of the backlog waited for the last (docs/shim.md,
 * "Benchmark"). Between two slices the open group commits and its fdatasync
 * starts, while the next slice runs.
 */
export class SlicedQueue<T> {
  private jobs: T[] = []
  private next = 0
  private scheduled = false
  private idleWaiters: (() => void)[] = []

  constructor(
    private readonly run: (job: T) => void,
    private readonly sliceMs: number,
    private readonly schedule: (fn: () => void) => void = (fn) => { setImmediate(fn) },
    private readonly now: () => number = () => performance.now(),
  ) {}

  push(job: T): void {
    this.jobs.push(job)
    if (!this.scheduled) {
      this.scheduled = true
      this.schedule(this.drain)
    }
  }

  /**
   * Resolves once no job waits, on a later turn (what runs then holds no
   * job up), or after `maxWaitMs` at the latest, so work that can wait (the
   * outbox's claim and completion steps) never starves.
   */
  whenIdle(maxWaitMs: number): Promise<void> {
    return new Promise((resolve) => {
      let done = false
      const finish = (): void => {
        if (done) return
        done = true
        clearTimeout(timer)
        resolve()
      }
      const timer = setTimeout(finish, maxWaitMs)
      this.idleWaiters.push(finish)
      if (!this.scheduled) {
        this.scheduled = true
        this.schedule(this.drain)
      }
    })
  }

  /** Jobs waiting for their turn. */
  get size(): number { return this.jobs.length - this.next }

  private readonly drain = (): void => {
    const start = this.now()
    // At least one job per turn, however long it takes.
    while (this.next < this.jobs.length) {
      const job = this.jobs[this.next]!
      this.jobs[this.next++] = undefined as T
      this.run(job)
      if (this.now() - start >= this.sliceMs) break
    }
    if (this.next < this.jobs.length) {
      this.schedule(this.drain)
      return
    }
    this.jobs = []
    this.next = 0
    this.scheduled = false
    for (const finish of this.idleWaiters.splice(0)) finish()
  }
}
