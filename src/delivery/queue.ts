import { DELIVERY_DROPPED, DELIVERY_STORAGE, type Note } from '../notes'

// The durable half of the delivery queue (docs/delivery.md): what a call needs
// before it resolves — its record stored — and nothing that sends. It is in
// the entry; the sender (sender.ts) is a chunk loaded right after start, so
// this module exports nothing but types to it (a value would pull the entry
// into a shared chunk).

/** Queue cap: records … */
export const MAX_RECORDS = 2000
/** … and characters of stored JSON (localStorage holds ~5 M characters per origin, shared with the page). */
export const MAX_CHARS = 2_000_000

/** What the store needs from the page; tests pass fakes. */
export interface StoreDeps {
  /** Prefix of every storage key of this queue (one queue per project token). */
  prefix: string
  /** Where records are kept until sent (localStorage), or undefined: memory only. */
  storage: Storage | undefined
  now(): number
  random(): number
  note(note: Note, ...details: unknown[]): void
}

/**
 * A record: storage key ('' when in memory only), url, JSON, time queued, and
 * where it is: 0 waiting, 1 in a request, 2 in a keepalive request, -1 done.
 */
export interface Item {
  k: string
  u: string
  j: string
  t: number
  f: number
}

/** The stored records of one page, oldest first; the sender reads and settles them. */
export interface Store {
  readonly deps: StoreDeps
  /** This page's id and its lease key (`<prefix><page>`). */
  readonly page: string
  readonly lease: string
  /** The records in the order queued; dropped ones (`f` -1) are skipped and compacted away now and then. */
  items: Item[]
  /** Index of the first record that may still be live. */
  head: number
  /** Whether this page holds a lease: only while it holds records. */
  leased: boolean
  /** Queues one finished record (its JSON) for `url`; it is stored when this returns. */
  push(url: string, json: string): void
  /** Queues a record with the time it was first queued (records taken over from another page). */
  add(url: string, json: string, time: number): void
  /** Removes records: sent, or dropped for `reason` (a debug note names each). */
  drop(batch: Item[], reason: unknown): void
  /** Writes `value` under `key`; false when it could not be stored (no storage, quota, a throwing storage). */
  store(key: string, value: string): boolean
  /** The page is being left: its lease says so ('0'), so the next page takes its records over at once. */
  release(): void
  /** Set by the sender once loaded: a record waits (before, when its chunk failed to load: load it again). */
  kick?(): void
  /** Set by the sender once loaded: the page is hidden (`leaving`: left). */
  hide?(leaving: boolean): void
}

/**
 * Each record has a storage key of its own (`<prefix><page>.<n>` →
 * `time\nurl\njson`), so a call costs one write whatever the queue holds, and
 * the cap drops the oldest in O(1). Each page holds a lease (`<prefix><page>`:
 * the time of its last heartbeat, '0' once left).
 */
export function createStore(deps: StoreDeps): Store {
  const { prefix, storage, now, note } = deps
  const page = deps.random().toString(36).slice(2)
  let count = 0
  let live = 0
  let chars = 0

  const self: Store = {
    deps,
    page,
    lease: prefix + page,
    items: [],
    head: 0,
    leased: false,
    push: (url, json) => self.add(url, json, now()),
    add(url, json, time) {
      self.leased ||= self.store(self.lease, '' + now())
      const key = self.lease + '.' + count++
      self.items.push({ k: self.store(key, `${time}\n${url}\n${json}`) ? key : '', u: url, j: json, t: time, f: 0 })
      live++
      chars += json.length
      // Over the cap: the oldest records go first.
      while (live > MAX_RECORDS || chars > MAX_CHARS) {
        while (self.items[self.head]!.f < 0) self.head++
        self.drop([self.items[self.head]!], 'full')
      }
      self.kick?.()
    },
    drop(batch, reason) {
      for (const item of batch) {
        // A record in a request may have been dropped meanwhile (the cap).
        if (item.f < 0) continue
        if (reason) note([DELIVERY_DROPPED, reason, item.j])
        try {
          if (item.k) storage!.removeItem(item.k)
        } catch {}
        chars -= item.j.length
        live--
        item.f = -1
      }
      // Compacted once most entries are dropped: amortised O(1) per record.
      const { items } = self
      if (!live || items.length - live > Math.max(64, live)) {
        self.items = items.filter((item) => item.f >= 0)
        self.head = 0
      }
      if (self.leased && !live) {
        self.leased = false
        try {
          storage!.removeItem(self.lease)
        } catch {}
      }
    },
    store(key, value) {
      try {
        storage!.setItem(key, value)
        return true
      } catch (error) {
        // Memory only (no storage) is not news; a failing write is.
        if (storage) note([DELIVERY_STORAGE], error)
        return false
      }
    },
    release() {
      if (self.leased) self.store(self.lease, '0')
    },
  }
  return self
}
