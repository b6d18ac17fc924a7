import { DELIVERY_DROPPED, DELIVERY_STORAGE, type Note } from '../notes'
import { BATCH, backoff, MAX_AGE, MAX_CHARS, MAX_RECORDS, retryAfter, verdict } from './policy'

/** What a request got back: `status` 0 when there was no answer. */
export interface Answer {
  status: number
  retryAfter?: string | null
}

/** What the queue needs from the page; tests pass fakes (storage, clock, transport). */
export interface QueueDeps {
  /** Prefix of every storage key of this queue (one queue per project token). */
  prefix: string
  /** Where records are kept until sent (localStorage), or undefined: memory only. */
  storage: Storage | undefined
  /** POSTs a batch (a JSON array) as the form field `data`; `keepalive` when the page is hidden and may be closed. Rejects when there is no answer. */
  send(url: string, body: string, keepalive: boolean): Promise<Answer>
  now(): number
  random(): number
  note(note: Note, ...details: unknown[]): void
  /** True while the user has opted out: nothing is sent and pending records are dropped, erasure requests excepted. */
  optedOut(): boolean
}

export interface Queue {
  /** Queues one finished record (its JSON) for `url`; it is stored when this returns. */
  push(url: string, json: string): void
  /** The page is hidden (`leaving`: being left): sends what waits by keepalive fetch, keeps it stored until answered. */
  hide(leaving: boolean): void
  /** Back from bfcache or online again: takes the lease again and sends now. */
  wake(): void
  /** Renews this page's lease and takes over the records of pages that are gone. */
  beat(): void
}

// A record: storage key ('' when in memory only), url, JSON, time queued, and
// where it is: 0 waiting, 1 in a request, 2 in a keepalive request, -1 done.
interface Item {
  k: string
  u: string
  j: string
  t: number
  f: number
}

/** A page's lease lapses after this long without a heartbeat (every LEASE / 4). */
export const LEASE = 20_000

/** A profile deletion or the clearing of its charges (`$delete`, `$transactions: []`). */
const isErasure = (json: string): boolean => /"\$delete":|"\$transactions":\[\]/.test(json)

const body = (batch: Item[]): string => `[${batch.map((item) => item.j).join(',')}]`

/**
 * The delivery queue of one page (docs/delivery.md). Each record has a
 * storage key of its own (`<prefix><page>.<n>` → `time\nurl\njson`), so a
 * call costs one write whatever the queue holds, and is removed once Mixpanel
 * answered 2xx. Each page holds a lease (`<prefix><page>`: the time of its
 * last heartbeat, '0' once left); the records of a page whose lease lapsed or
 * was released are taken over by the next page that beats.
 */
export function createQueue(deps: QueueDeps): Queue {
  const { prefix, storage, now, note, random } = deps
  const page = random().toString(36).slice(2)
  let items: Item[] = []
  let count = 0
  let chars = 0
  let timer: ReturnType<typeof setTimeout> | 0 = 0
  let busy = false
  let failures = 0
  let limit = BATCH
  // Whether this page holds a lease: only while it holds records (nothing is stored otherwise).
  let leased = false
  const lease = prefix + page

  /** Stores `value` under `key`; false when it could not be (no storage, quota, a throwing storage). */
  const store = (key: string, value: string): boolean => {
    try {
      storage!.setItem(key, value)
      return true
    } catch (error) {
      // Memory only (no storage) is not news; a failing write is.
      if (storage) note([DELIVERY_STORAGE], error)
      return false
    }
  }

  function add(url: string, json: string, time: number): void {
    leased ||= store(lease, '' + now())
    const key = lease + '.' + count++
    items.push({ k: store(key, `${time}\n${url}\n${json}`) ? key : '', u: url, j: json, t: time, f: 0 })
    chars += json.length
    // Over the cap: the oldest records go first.
    let over = 0
    for (let size = chars; items.length - over > MAX_RECORDS || size > MAX_CHARS; ) size -= items[over++]!.j.length
    if (over) drop(items.slice(0, over), 'full')
    if (!timer && !busy) schedule(0)
  }

  /** Removes records (sent, or dropped for `reason`: a debug note names each). */
  function drop(batch: Item[], reason: unknown): void {
    for (const item of batch) {
      if (reason) note([DELIVERY_DROPPED, reason, item.j])
      try {
        if (item.k) storage!.removeItem(item.k)
      } catch {}
      chars -= item.j.length
      item.f = -1
    }
    items = items.filter((item) => item.f >= 0)
    if (leased && !items[0]) {
      leased = false
      try {
        storage!.removeItem(lease)
      } catch {}
    }
  }

  function schedule(delay: number): void {
    clearTimeout(timer)
    timer = setTimeout(pump, delay)
  }

  /** The first waiting record and the next ones for the same url, at most `max`. */
  const pick = (max: number): Item[] => {
    const first = items.find((item) => !item.f)
    return items.filter((item) => !item.f && item.u === first!.u).slice(0, max)
  }

  function request(batch: Item[], keepalive: boolean): void {
    for (const item of batch) item.f = keepalive ? 2 : 1
    const settle = ({ status, retryAfter: after }: Answer): void => {
      if (!keepalive) busy = false
      for (const item of batch) if (item.f > 0) item.f = 0
      let delay = 0
      const outcome = verdict(status, batch.length)
      if (outcome === 'split') limit = Math.ceil(batch.length / 2)
      else if (outcome === 'retry') delay = retryAfter(after, now()) ?? backoff(++failures, random())
      else {
        drop(batch, outcome === 'drop' && status)
        failures = 0
        limit = Math.min(BATCH, limit * 2)
      }
      // A keepalive answer leaves a running backoff alone.
      if (!keepalive || !(timer || busy)) schedule(delay)
    }
    deps.send(batch[0]!.u, body(batch), keepalive).then(settle, () => settle({ status: 0 }))
  }

  function pump(): void {
    timer = 0
    if (busy) return
    // Opted out: what waits is dropped, except the erasure request that
    // optOut({ deleteUser: true }) queued just before (docs/behaviour.md, "Consent").
    if (deps.optedOut()) drop(items.filter((item) => !isErasure(item.j)), 'opted out')
    const old = now() - MAX_AGE
    drop(items.filter((item) => item.t < old), 'old')
    const batch = pick(limit)
    if (batch[0]) {
      busy = true
      request(batch, false)
    }
  }

  function beat(): void {
    const time = now()
    try {
      const taken: string[][] = []
      for (const key of Object.keys(storage!)) {
        const [owner, n] = key.slice(prefix.length).split('.')
        // Ours, another queue's, or a page that is alive.
        if (!key.startsWith(prefix) || owner === page || time - Number(storage!.getItem(prefix + owner)) < LEASE) continue
        const value = storage!.getItem(key)!.split('\n')
        storage!.removeItem(key)
        if (n) taken.push(value)
      }
      for (const [at, url, json] of taken.sort((a, b) => +a[0]! - +b[0]!)) add(url!, json!, +at!)
      if (leased) storage!.setItem(lease, '' + time)
    } catch {}
  }

  return {
    push: (url, json) => add(url, json, now()),
    hide(leaving) {
      // Leaving: requests in flight are cancelled with the page, so their
      // records go again (keepalive ones outlive it). Nothing is removed
      // unanswered: a later page re-sends it, same $insert_id and time.
      for (const item of items) if (leaving && item.f === 1) item.f = 0
      let batch: Item[]
      while ((batch = pick(BATCH))[0]) request(batch, true)
      if (leaving && leased) store(lease, '0')
    },
    wake() {
      failures = 0
      beat()
      if (!busy) schedule(0)
    },
    beat,
  }
}
