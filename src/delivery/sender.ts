import { BATCH, backoff, LEASE, MAX_AGE, retryAfter, TIMEOUT, verdict } from './policy'
import type { Item, Store } from './queue'

// The sending half of the delivery queue (docs/delivery.md), a chunk loaded
// right after start: batches, fetch, retries, keepalive when the page is
// hidden or left, heartbeats and taking over the records of pages that are
// gone. Until it loads, records are only stored (queue.ts); a page left
// before then is sent by the next one.

/** What a request got back: `status` 0 when there was no answer. */
export interface Answer {
  status: number
  retryAfter?: string | null
}

export interface SenderDeps {
  /** POSTs a batch (a JSON array) as the form field `data`; `keepalive` when the page is hidden and may be closed. Rejects when there is no answer. */
  send(url: string, body: string, keepalive: boolean): Promise<Answer>
  /** True while the user has opted out: nothing is sent and pending records are dropped, erasure requests excepted. */
  optedOut(): boolean
}

export interface Sender {
  /** Back from bfcache or online again: takes the lease again and sends now. */
  wake(): void
  /** Renews this page's lease and takes over the records of pages that are gone. */
  beat(): void
  /** Whether the last heartbeat saw another page holding records under a live lease. */
  readonly others: boolean
}

/** Records taken over from other pages per task: each costs a read, a write and a removal. */
const TAKE = 100
/** Keepalive bodies a page may have in flight: 64 KiB (the Fetch standard); more would be refused, so more is not sent (counted in JSON characters). */
const KEEPALIVE_QUOTA = 64_000

/** A profile deletion or the clearing of its charges (`$delete`, `$transactions: []`). */
const isErasure = (json: string): boolean => /"\$delete":|"\$transactions":\[\]/.test(json)

/**
 * Posts `data=<json>` (a form body) with fetch; no answer after TIMEOUT aborts
 * it (a failure, retried) where the browser has `AbortSignal.timeout` (Chrome
 * 103, Firefox 100, Safari 16; older ones wait for the answer: docs/browsers.md).
 */
export const send = (url: string, data: string, keepalive: boolean): Promise<Answer> =>
  // Default credentials: no cookies cross-origin (Mixpanel needs none), so wildcard CORS answers (proxies) work.
  fetch(url, { method: 'POST', body: new URLSearchParams({ data }), keepalive, signal: AbortSignal.timeout?.(TIMEOUT) }).then((response) => ({
    status: response.status,
    retryAfter: response.headers.get('Retry-After'),
  }))

/** Starts sending what `store` holds and what it gets from now on. */
export function startSender(store: Store, deps: SenderDeps): Sender {
  const { prefix, storage, now, random } = store.deps
  let timer: ReturnType<typeof setTimeout> | 0 = 0
  let busy = false
  let failures = 0
  let limit = BATCH
  // Keys of other pages' records still to take over, a few per task.
  let taking: string[] = []
  let others = false

  function schedule(delay: number): void {
    clearTimeout(timer)
    timer = setTimeout(pump, delay)
  }

  /**
   * The first waiting record and the next ones for the same url, at most
   * `max` (and at most `chars` characters of JSON, the first one always).
   * Records too old for the API are dropped on the way.
   */
  function pick(max: number, chars = Infinity): Item[] {
    const batch: Item[] = []
    const old = now() - MAX_AGE
    const { items } = store
    for (let i = store.head; i < items.length && batch.length < max; i++) {
      const item = items[i]!
      if (item.f || (batch[0] && item.u !== batch[0].u)) continue
      if (item.t < old) store.drop([item], 'old')
      else if ((chars -= item.j.length) < 0 && batch[0]) break
      else batch.push(item)
    }
    return batch
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
        store.drop(batch, outcome === 'drop' && status)
        failures = 0
        limit = Math.min(BATCH, limit * 2)
      }
      // A keepalive answer leaves a running backoff alone; with nothing
      // waiting there is nothing to pump (a task saved per answer).
      if ((!keepalive || !(timer || busy)) && store.items.some((item) => !item.f)) schedule(delay)
    }
    deps.send(batch[0]!.u, `[${batch.map((item) => item.j).join(',')}]`, keepalive).then(settle, () => settle({ status: 0 }))
  }

  function pump(): void {
    timer = 0
    if (busy) return
    // Opted out: what waits is dropped, except the erasure request that
    // optOut({ deleteUser: true }) queued just before (docs/behaviour.md, "Consent").
    if (deps.optedOut()) store.drop(store.items.filter((item) => !isErasure(item.j)), 'opted out')
    const batch = pick(limit)
    if (batch[0]) {
      busy = true
      request(batch, false)
    }
  }

  /** Takes over (moves under this page's lease) up to TAKE records of pages that are gone, then yields. */
  function take(): void {
    for (const key of taking.splice(0, TAKE)) {
      try {
        // Another page may have taken it meanwhile.
        const value = storage!.getItem(key)
        storage!.removeItem(key)
        if (!value) continue
        const [at, url, json] = value.split('\n')
        store.add(url!, json!, +at!)
      } catch {}
    }
    if (taking[0]) setTimeout(take)
  }

  function beat(): void {
    // Memory only: no lease, nothing to take over. Taking over: the keys are being worked through.
    if (!storage || taking[0]) return
    const time = now()
    try {
      const alive = new Map<string, boolean>()
      // One pass over the keys; no values read but one lease per other page.
      for (const key of Object.keys(storage)) {
        if (!key.startsWith(prefix)) continue
        const [owner, n] = key.slice(prefix.length).split('.') as [string, string?]
        if (owner === store.page) continue
        if (!alive.has(owner)) alive.set(owner, time - Number(storage.getItem(prefix + owner)) < LEASE)
        if (alive.get(owner)) continue
        if (n) taking.push(key)
        // A lease without records left.
        else storage.removeItem(key)
      }
      // Oldest first: a page numbers its records in the order it queued them.
      const n = (key: string): number => +key.slice(key.lastIndexOf('.') + 1)
      taking.sort((a, b) => n(a) - n(b))
      others = [...alive.values()].includes(true)
      if (taking[0]) take()
      if (store.leased) storage.setItem(store.lease, '' + time)
    } catch {}
  }

  store.kick = () => {
    if (!timer && !busy) schedule(0)
  }
  store.hide = (leaving) => {
    // Leaving: requests in flight are cancelled with the page, so their
    // records go again (keepalive ones outlive it). Nothing is removed
    // unanswered: a later page re-sends it, same $insert_id and time.
    if (leaving) for (const item of store.items) if (item.f === 1) item.f = 0
    // Keepalive bodies beyond the quota would be refused: the rest waits for the next page.
    let quota = KEEPALIVE_QUOTA
    let batch: Item[]
    while (quota > 0 && (batch = pick(BATCH, quota))[0]) {
      for (const item of batch) quota -= item.j.length
      request(batch, true)
    }
  }
  const sender: Sender = {
    wake() {
      failures = 0
      beat()
      // Now, not in a timer task: at start-up the first request leaves in
      // the task that loaded the sender (docs/performance.md, "Start-up").
      if (!busy) {
        clearTimeout(timer)
        pump()
      }
    },
    beat,
    get others() {
      return others
    },
  }
  sender.wake()
  return sender
}

/**
 * What browser.ts calls once this chunk has loaded: the sender with fetch,
 * wired to the page's events (the `pagehide` listener is browser.ts's own, so
 * it also runs when this chunk never loads).
 */
export function start(store: Store, optedOut: () => boolean): void {
  const { prefix, storage } = store.deps
  const sender = startSender(store, { send, optedOut })
  if (storage) {
    // Another page released its lease (it was left): its records are ours to
    // send now. Listened to only once a heartbeat has seen another page
    // holding records (a `storage` listener costs about 1 ms of the page's
    // start-up in Chromium); until then the next heartbeat takes them over.
    let listening = false
    const listen = (): void => {
      if (listening || !sender.others) return
      listening = true
      addEventListener('storage', (event) => event.key?.startsWith(prefix) && event.newValue === '0' && sender.beat())
    }
    // startSender's first heartbeat has run.
    listen()
    setInterval(() => (sender.beat(), listen()), LEASE / 4)
  }
  document.addEventListener('visibilitychange', () => document.visibilityState === 'hidden' && store.hide!(false))
  addEventListener('pageshow', (event) => event.persisted && sender.wake())
  addEventListener('online', sender.wake)
}
