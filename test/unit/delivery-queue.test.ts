import { afterEach, beforeEach, describe, expect, test, vi } from 'vitest'
import { BATCH, LEASE, MAX_AGE } from '../../src/delivery/policy'
import { createStore, MAX_RECORDS } from '../../src/delivery/queue'
import { send, startSender, type Answer } from '../../src/delivery/sender'
import { DELIVERY_DROPPED, DELIVERY_STORAGE, type Note } from '../../src/notes'

const PREFIX = '__mpdm_tok_'
const URL = 'https://api-js.mixpanel.com/track/?ip=1'
const ENGAGE = 'https://api-js.mixpanel.com/engage/?ip=1'

/** A Storage like localStorage: keys are its own enumerable properties; counts writes. */
class FakeStorage {
  declare writes: number
  declare failing: boolean
  constructor() {
    Object.defineProperty(this, 'writes', { value: 0, writable: true, enumerable: false })
    Object.defineProperty(this, 'failing', { value: false, writable: true, enumerable: false })
  }
  getItem(key: string): string | null {
    return Object.prototype.hasOwnProperty.call(this, key) ? (this as any)[key] : null
  }
  setItem(key: string, value: string): void {
    if (this.failing) throw new DOMException('quota', 'QuotaExceededError')
    this.writes++
    ;(this as any)[key] = String(value)
  }
  removeItem(key: string): void {
    delete (this as any)[key]
  }
}

interface Sent {
  by: string
  url: string
  events: string[]
  keepalive: boolean
  answer(answer: Answer): void
  fail(): void
}

const event = (name: string, n = 0): string => JSON.stringify({ event: name, properties: { $insert_id: `${name}-${n}`, time: 1 } })
const records = (storage: FakeStorage): string[] =>
  Object.keys(storage).filter((key) => key.includes('.')).map((key) => JSON.parse(storage.getItem(key)!.split('\n')[2]!).event)

let storage: FakeStorage
let sent: Sent[]
let notes: Note[]
let optedOut: boolean

/** A page's queue: the store (queue.ts) and, unless `sending` is false, its sender (sender.ts). */
function queue(store: FakeStorage | undefined = storage, by = 'me', sending = true) {
  // The first draw names the page (each queue its own); the others are jitter, fixed at the middle.
  let named = false
  const kept = createStore({
    prefix: PREFIX,
    storage: store as unknown as Storage,
    now: Date.now,
    random: () => (named ? 0.5 : ((named = true), Math.random())),
    note: (note) => void notes.push(note),
  })
  const sender = sending ? startSender(kept, {
    send: (url, body, keepalive) =>
      new Promise<Answer>((resolve, reject) => {
        const data = JSON.parse(body) as { event: string }[]
        sent.push({ by, url, events: data.map((r) => r.event), keepalive, answer: resolve, fail: () => reject(new TypeError('Failed to fetch')) })
      }),
    optedOut: () => optedOut,
  }) : undefined
  return {
    store: kept,
    push: kept.push,
    beat: () => sender!.beat(),
    others: () => sender!.others,
    /** What the page's `pagehide` listener does (browser.ts). */
    leave: () => {
      kept.hide?.(true)
      kept.release()
    },
    hide: (leaving: boolean) => kept.hide!(leaving),
  }
}

/** Lets timers due now and settled promises run. */
const tick = async (ms = 0): Promise<void> => {
  await vi.advanceTimersByTimeAsync(ms)
}

beforeEach(() => {
  vi.useFakeTimers({ now: Date.UTC(2026, 11, 1) })
  storage = new FakeStorage()
  sent = []
  notes = []
  optedOut = false
})
afterEach(() => {
  vi.useRealTimers()
})

describe('the delivery queue', () => {
  test('a record is stored before push returns, one write per record whatever the queue holds', () => {
    const q = queue()
    for (let i = 0; i < 1000; i++) q.push(URL, event('E', i))
    expect(records(storage)).toHaveLength(1000)
    const before = storage.writes
    q.push(URL, event('Last'))
    expect(storage.writes - before).toBe(1)
  })

  test('sends in batches of at most 50 per url, in order, and removes a batch once answered 200', async () => {
    const q = queue()
    for (let i = 0; i < 60; i++) q.push(URL, event('E', i))
    q.push(ENGAGE, JSON.stringify({ $distinct_id: 'u1', $set: {} }))
    await tick()
    expect(sent.map((s) => [s.url, s.events.length])).toEqual([[URL, BATCH]])
    sent[0]!.answer({ status: 200 })
    await tick()
    expect(sent.map((s) => [s.url, s.events.length])).toEqual([[URL, 50], [URL, 10]])
    sent[1]!.answer({ status: 200 })
    await tick()
    expect(sent[2]!.url).toBe(ENGAGE)
    sent[2]!.answer({ status: 200 })
    await tick()
    expect(Object.keys(storage).filter((key) => key.includes('.'))).toEqual([])
  })

  test('a batch without an answer (connection reset, CORS, offline) is kept and sent again after a backoff', async () => {
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    sent[0]!.fail()
    await tick(499)
    expect(sent).toHaveLength(1)
    // backoff(1, 0.5) = 750 ms
    await tick(251)
    expect(sent.map((s) => s.events)).toEqual([['A'], ['A']])
    expect(records(storage)).toEqual(['A'])
  })

  test('5xx answers are retried with growing waits, then the batch is sent', async () => {
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    sent[0]!.answer({ status: 500 })
    await tick(750)
    sent[1]!.answer({ status: 503 })
    await tick(1499)
    expect(sent).toHaveLength(2)
    await tick(1)
    sent[2]!.answer({ status: 200 })
    await tick()
    expect(sent.map((s) => s.events)).toEqual([['A'], ['A'], ['A']])
    expect(records(storage)).toEqual([])
  })

  test('429 with Retry-After (seconds) waits that long', async () => {
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    sent[0]!.answer({ status: 429, retryAfter: '30' })
    await tick(29_999)
    expect(sent).toHaveLength(1)
    await tick(1)
    expect(sent).toHaveLength(2)
  })

  test('503 with Retry-After as an HTTP-date waits until then', async () => {
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    sent[0]!.answer({ status: 503, retryAfter: new Date(Date.now() + 5000).toUTCString() })
    await tick(4999)
    expect(sent).toHaveLength(1)
    await tick(1)
    expect(sent).toHaveLength(2)
  })

  test('a 400 batch is split until the refused record is alone; it is dropped with a note naming it, the others are sent', async () => {
    const q = queue()
    for (const name of ['A', 'Bad', 'C', 'D']) q.push(URL, event(name))
    await tick()
    const answer = async (): Promise<void> => {
      const last = sent[sent.length - 1]!
      last.answer({ status: last.events.includes('Bad') ? 400 : 200 })
      await tick()
    }
    while (records(storage).length) await answer()
    // Halved on each 400, doubled back on each 200.
    expect(sent.map((s) => s.events)).toEqual([['A', 'Bad', 'C', 'D'], ['A', 'Bad'], ['A'], ['Bad', 'C'], ['Bad'], ['C', 'D']])
    expect(notes).toEqual([[DELIVERY_DROPPED, 400, event('Bad')]])
  })

  test('a single record answered 413 is dropped with a note', async () => {
    const q = queue()
    q.push(URL, event('Huge'))
    await tick()
    sent[0]!.answer({ status: 413 })
    await tick()
    expect(notes).toEqual([[DELIVERY_DROPPED, 413, event('Huge')]])
    expect(records(storage)).toEqual([])
  })

  test('over the cap the oldest records are dropped, each with a note', async () => {
    const q = queue()
    for (let i = 0; i < MAX_RECORDS + 2; i++) q.push(URL, event('E', i))
    expect(records(storage)).toHaveLength(MAX_RECORDS)
    expect(notes).toEqual([
      [DELIVERY_DROPPED, 'full', event('E', 0)],
      [DELIVERY_DROPPED, 'full', event('E', 1)],
    ])
  })

  test('records older than 5 days are dropped instead of sent', async () => {
    const q = queue()
    q.push(URL, event('Old'))
    await tick()
    sent[0]!.fail()
    await vi.advanceTimersByTimeAsync(0)
    vi.setSystemTime(Date.now() + MAX_AGE + 1)
    await tick(1000)
    expect(sent).toHaveLength(1)
    expect(notes).toEqual([[DELIVERY_DROPPED, 'old', event('Old')]])
  })

  test('while opted out nothing is sent and what waits is dropped', async () => {
    const q = queue()
    optedOut = true
    q.push(URL, event('A'))
    await tick()
    expect(sent).toEqual([])
    expect(records(storage)).toEqual([])
    expect(notes).toEqual([[DELIVERY_DROPPED, 'opted out', event('A')]])
  })

  test('opting out drops what waits but still sends the erasure request queued just before it (optOut({ deleteUser: true }))', async () => {
    const q = queue()
    const erase = JSON.stringify({ $delete: 'u1', $token: 'tok', $distinct_id: 'u1' })
    const charges = JSON.stringify({ $set: { $transactions: [] }, $token: 'tok', $distinct_id: 'u1' })
    optedOut = true
    q.push(URL, event('A'))
    q.push(ENGAGE, erase)
    q.push(ENGAGE, charges)
    await tick()
    expect(notes).toEqual([[DELIVERY_DROPPED, 'opted out', event('A')]])
    expect(sent.map((s) => [s.url, s.keepalive])).toEqual([[ENGAGE, false]])
    expect(sent[0]!.events).toHaveLength(2)
  })

  test('a storage that throws keeps records in memory, still sends them, and notes each failed write (the lease, the record)', async () => {
    storage.failing = true
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    expect(sent.map((s) => s.events)).toEqual([['A']])
    expect(notes.map((n) => n[0])).toEqual([DELIVERY_STORAGE, DELIVERY_STORAGE])
  })

  test('without storage (persistence none) records live in memory and are sent', async () => {
    const q = queue(undefined)
    q.push(URL, event('A'))
    await tick()
    expect(sent.map((s) => s.events)).toEqual([['A']])
    expect(notes).toEqual([])
  })
})

describe('leaving the page and taking over', () => {
  test('hidden: what waits goes by keepalive fetch and is removed when answered', async () => {
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    sent[0]!.answer({ status: 500 })
    await tick()
    q.hide(false)
    expect(sent.map((s) => [s.events, s.keepalive])).toEqual([[['A'], false], [['A'], true]])
    sent[1]!.answer({ status: 200 })
    await tick()
    expect(records(storage)).toEqual([])
  })

  test('leaving: what waits and what is in flight goes by keepalive, stays stored, and the lease is released', async () => {
    const q = queue()
    q.push(URL, event('A'))
    await tick()
    q.push(URL, event('B'))
    q.leave()
    expect(sent.map((s) => [s.events, s.keepalive])).toEqual([[['A'], false], [['A', 'B'], true]])
    expect(records(storage).sort()).toEqual(['A', 'B'])
    const lease = Object.keys(storage).find((key) => !key.includes('.'))!
    expect(storage.getItem(lease)).toBe('0')
  })

  test("the next page takes over a left page's records at once and sends them, oldest first", async () => {
    const first = queue()
    first.push(URL, event('A'))
    first.push(URL, event('B'))
    first.leave()
    sent = []
    queue()
    await tick()
    expect(sent.map((s) => s.events)).toEqual([['A', 'B']])
    // Now under the new page's lease, and the old lease is gone.
    expect(Object.keys(storage).filter((key) => !key.includes('.'))).toHaveLength(1)
  })

  test("a live page's records are left alone; once its lease lapses they are taken over", async () => {
    const other = queue(storage, 'other')
    other.beat()
    other.push(URL, event('A'))
    const me = queue()
    me.beat()
    await tick()
    const mine = (): string[][] => sent.filter((s) => s.by === 'me').map((s) => s.events)
    expect(mine()).toEqual([])
    vi.setSystemTime(Date.now() + LEASE)
    me.beat()
    await tick()
    expect(mine()).toEqual([['A']])
  })

  // The page listens to `storage` events (a released lease) only from then on (sender.ts, start()).
  test('a heartbeat tells whether another page holds records under a live lease', async () => {
    const me = queue()
    expect(me.others()).toBe(false)
    const other = queue(storage, 'other', false)
    other.push(URL, event('A'))
    me.beat()
    expect(me.others()).toBe(true)
    other.leave()
    me.beat()
    expect(me.others()).toBe(false)
  })
})

describe('bounded work (docs/delivery.md, "Bounds")', () => {
  /** Counts the storage calls made while `run` runs. */
  function calls(run: () => void): { set: number; remove: number; get: number; keys: number } {
    const counts = { set: 0, remove: 0, get: 0, keys: 0 }
    const { setItem, removeItem, getItem } = storage
    storage.setItem = function (key, value) { counts.set++; return setItem.call(this, key, value) }
    storage.removeItem = function (key) { counts.remove++; return removeItem.call(this, key) }
    storage.getItem = function (key) { counts.get++; return getItem.call(this, key) }
    try {
      run()
    } finally {
      Object.assign(storage, { setItem, removeItem, getItem })
      for (const name of ['setItem', 'removeItem', 'getItem']) delete (storage as any)[name]
    }
    return counts
  }

  test('at the cap a push costs one write and one removal, however many records came before; memory stays bounded', async () => {
    const q = queue(storage, 'me', false)
    for (let i = 0; i < MAX_RECORDS * 5; i++) q.push(URL, event('E', i))
    expect(calls(() => q.push(URL, event('Last'))).valueOf()).toEqual({ set: 1, remove: 1, get: 0, keys: 0 })
    expect(records(storage)).toHaveLength(MAX_RECORDS)
    // Dropped records are compacted away: the list never holds much more than the cap.
    expect(q.store.items.length).toBeLessThanOrEqual(2 * MAX_RECORDS + 64)
    expect(q.store.items.filter((item) => item.f >= 0)).toHaveLength(MAX_RECORDS)
  })

  test('records are stored before the sender loads; once it does, it sends them', async () => {
    const q = queue(storage, 'me', false)
    q.push(URL, event('A'))
    q.push(URL, event('B'))
    await tick(1000)
    expect(records(storage).sort()).toEqual(['A', 'B'])
    startSender(q.store, {
      send: (url, body, keepalive) => new Promise<Answer>((resolve) => void sent.push({ by: 'me', url, events: JSON.parse(body).map((r: any) => r.event), keepalive, answer: resolve, fail() {} })),
      optedOut: () => false,
    })
    await tick()
    expect(sent.map((s) => s.events)).toEqual([['A', 'B']])
  })

  test('starting, the sender requests what is stored in the same task; an answer schedules a task only when records wait', async () => {
    const q = queue(storage, 'me', false)
    q.push(URL, event('A'))
    startSender(q.store, {
      send: (url, body, keepalive) => new Promise<Answer>((resolve) => void sent.push({ by: 'me', url, events: JSON.parse(body).map((r: any) => r.event), keepalive, answer: resolve, fail() {} })),
      optedOut: () => false,
    })
    // No timer ran: the request left while the sender started (one task less at start-up, docs/performance.md).
    expect(sent.map((s) => s.events)).toEqual([['A']])
    expect(vi.getTimerCount()).toBe(0)
    // Pushed while A is in flight: it waits for A's answer, then goes.
    q.push(URL, event('B'))
    sent[0]!.answer({ status: 200 })
    await tick()
    expect(sent.map((s) => s.events)).toEqual([['A'], ['B']])
    // Answered with nothing waiting: no task is scheduled, nothing is left stored.
    sent[1]!.answer({ status: 200 })
    for (let i = 0; i < 5; i++) await Promise.resolve()
    expect(vi.getTimerCount()).toBe(0)
    expect(records(storage)).toEqual([])
  })

  test('a page left before its sender loaded releases its lease; the next page sends its records, once', async () => {
    const first = queue(storage, 'first', false)
    first.push(URL, event('A'))
    first.push(URL, event('B'))
    first.leave()
    expect(sent).toEqual([])
    queue(storage, 'next')
    await tick()
    expect(sent.map((s) => [s.by, s.events])).toEqual([['next', ['A', 'B']]])
    sent[0]!.answer({ status: 200 })
    await tick()
    expect(Object.keys(storage)).toEqual([])
  })

  test('taking over many records is done 100 per task, oldest first', async () => {
    const first = queue(storage, 'first', false)
    for (let i = 0; i < 250; i++) first.push(URL, event('E', i))
    first.leave()
    const next = queue(storage, 'next', false)
    // The next page's sender starts: its first heartbeat takes over the first 100 at once.
    const moved = calls(() => startSender(next.store, { send: () => new Promise<Answer>(() => {}), optedOut: () => false }))
    expect(moved.remove).toBe(100 + 1)
    expect(next.store.items.map((item) => JSON.parse(item.j).properties.$insert_id)).toEqual(Array.from({ length: 100 }, (_, i) => `E-${i}`))
    await tick(1)
    expect(next.store.items.map((item) => JSON.parse(item.j).properties.$insert_id)).toEqual(Array.from({ length: 250 }, (_, i) => `E-${i}`))
    expect(records(storage)).toHaveLength(250)
  })

  test('leaving with a full queue sends only what fits in the keepalive quota (64 kB); the rest stays stored', async () => {
    const q = queue()
    const big = (n: number): string => JSON.stringify({ event: 'Big', properties: { $insert_id: `big-${n}`, pad: 'x'.repeat(1000) } })
    for (let i = 0; i < 500; i++) q.push(URL, big(i))
    await tick()
    sent = []
    q.leave()
    const count = sent.reduce((n, s) => n + s.events.length, 0)
    expect(sent.every((s) => s.keepalive)).toBe(true)
    expect(count).toBeGreaterThan(50)
    expect(count).toBeLessThanOrEqual(Math.ceil(64_000 / big(0).length) + 1)
    expect(records(storage)).toHaveLength(500)
  })
})

describe('sending with fetch', () => {
  test('a browser without AbortSignal.timeout (Safari < 16, Chrome < 103) still sends, as a form body, without a timeout', async () => {
    const timeout = AbortSignal.timeout
    const posted: [string, RequestInit][] = []
    vi.stubGlobal('fetch', (url: string, init: RequestInit) => {
      posted.push([url, init])
      return Promise.resolve({ status: 200, headers: new Headers({ 'Retry-After': '3' }) })
    })
    try {
      ;(AbortSignal as { timeout?: unknown }).timeout = undefined
      expect(await send(URL, '[1]', true)).toEqual({ status: 200, retryAfter: '3' })
      expect(posted.map(([url, init]) => [url, init.method, String(init.body), init.keepalive, init.signal])).toEqual([[URL, 'POST', 'data=%5B1%5D', true, undefined]])
    } finally {
      AbortSignal.timeout = timeout
      vi.unstubAllGlobals()
    }
  })
})
