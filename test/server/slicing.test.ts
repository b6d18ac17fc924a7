/** Work cut into slices so one thread never holds webhooks up for long (docs/shim.md, "Benchmark"). */
import { afterEach, describe, expect, it, vi } from 'vitest'
import { mixpanelEngage } from '../../src/server/destinations/mixpanel-engage/index.js'
import { userSlices } from '../../src/server/destinations/types.js'
import { SlicedQueue } from '../../src/server/store/sliced-queue.js'
import type { OutboxRow } from '../../src/server/store/types.js'

const row = (id: number, userKey: string, members: number[]): OutboxRow => ({
  id, sink: 'mixpanel', dest: 'd', userKey, attempts: id % 3, createdAt: id,
  payload: JSON.stringify({ token: 't', distinctId: userKey, members, named: { [String(members[0])]: `A${members[0]}` } }),
})

describe('userSlices', () => {
  // Users u0…u6, some with several rows spread over the batch.
  const rows = [0, 1, 2, 0, 3, 4, 1, 5, 6, 0].map((u, i) => row(i + 1, `u${u}`, [10 + i, 20 + u]))

  it('cuts a batch into runs of at most n users, each holding every row of its users in row order', () => {
    expect(userSlices(rows, 3).map((s) => s.map((r) => `${r.userKey}#${r.id}`))).toEqual([
      ['u0#1', 'u0#4', 'u0#10', 'u1#2', 'u1#7', 'u2#3'],
      ['u3#5', 'u4#6', 'u5#8'],
      ['u6#9'],
    ])
    expect(userSlices(rows, 100)).toHaveLength(1)
    expect(userSlices([], 3)).toEqual([])
    expect(() => userSlices(rows, 0)).toThrow('maxUsers must be at least 1')
  })

  it('coalesced slice by slice, gives the very updates of the whole batch, in the same order', () => {
    const whole = mixpanelEngage.coalesce(rows)
    for (const n of [1, 2, 3, 7]) expect(userSlices(rows, n).flatMap((s) => mixpanelEngage.coalesce(s))).toEqual(whole)
  })
})

describe('SlicedQueue', () => {
  /** A queue on a fake clock and a manual scheduler: each job takes `cost` ms. */
  const setup = (sliceMs: number, cost: (job: string) => number) => {
    let now = 0
    const turns: (() => void)[] = []
    const ran: string[] = []
    const q = new SlicedQueue<string>((job) => { ran.push(job); now += cost(job) }, sliceMs, (fn) => turns.push(fn), () => now)
    const turn = (): string[] => {
      const fn = turns.shift()
      if (fn === undefined) throw new Error('no turn scheduled')
      const before = ran.length
      fn()
      return ran.slice(before)
    }
    return { q, turn, turns, ran }
  }

  it('runs jobs in arrival order, at most about sliceMs of them per turn, and gives the event loop a turn in between', () => {
    const { q, turn, turns } = setup(4, () => 1.5)
    for (const j of ['a', 'b', 'c', 'd', 'e']) q.push(j)
    // One turn scheduled, however many jobs wait; nothing runs inside push.
    expect(turns).toHaveLength(1)
    expect(q.size).toBe(5)
    expect(turn()).toEqual(['a', 'b', 'c'])
    q.push('f')
    expect(turns).toHaveLength(1)
    expect(turn()).toEqual(['d', 'e', 'f'])
    expect(turns).toHaveLength(0)
    expect(q.size).toBe(0)
    q.push('g')
    expect(turn()).toEqual(['g'])
  })

  it('runs at least one job per turn, even one longer than a slice', () => {
    const { q, turn } = setup(4, (j) => (j === 'long' ? 50 : 1))
    q.push('long')
    q.push('next')
    expect(turn()).toEqual(['long'])
    expect(turn()).toEqual(['next'])
  })

  describe('whenIdle (what can wait: the outbox\'s claim and completion steps)', () => {
    afterEach(() => { vi.useRealTimers() })

    it('resolves on a later turn once no job waits, after the jobs queued before and meanwhile', async () => {
      const { q, turn, ran } = setup(4, () => 3)
      let idle = false
      for (const j of ['a', 'b', 'c']) q.push(j)
      void q.whenIdle(60_000).then(() => { idle = true })
      expect(turn()).toEqual(['a', 'b'])
      q.push('d')
      await Promise.resolve()
      expect(idle).toBe(false)
      expect(turn()).toEqual(['c', 'd'])
      await Promise.resolve()
      expect(idle).toBe(true)
      expect(ran).toEqual(['a', 'b', 'c', 'd'])
    })

    it('with nothing queued, resolves on the next turn', async () => {
      const { q, turn } = setup(4, () => 1)
      let idle = false
      void q.whenIdle(60_000).then(() => { idle = true })
      await Promise.resolve()
      expect(idle).toBe(false)
      expect(turn()).toEqual([])
      await Promise.resolve()
      expect(idle).toBe(true)
    })

    it('resolves after maxWaitMs at the latest, while jobs keep the queue busy', async () => {
      vi.useFakeTimers()
      const { q, turn } = setup(4, () => 5)
      q.push('a')
      let idle = false
      void q.whenIdle(50).then(() => { idle = true })
      // Every turn brings a new job: the queue is never empty.
      for (let i = 0; i < 3; i++) { q.push(`x${i}`); turn() }
      await vi.advanceTimersByTimeAsync(49)
      expect(idle).toBe(false)
      await vi.advanceTimersByTimeAsync(1)
      expect(idle).toBe(true)
    })
  })
})
