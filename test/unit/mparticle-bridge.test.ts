import { afterEach, describe, expect, it, vi } from 'vitest'
import { createAnalytics } from '../../src/facade'
import type { MixpanelLike } from '../../src/mixpanel/types'
import { startBridge, type BridgeHost } from '../../src/mparticle/bridge'
import { whenMParticle } from '../../src/mparticle/watch'
import type { IdentityLike } from '../../src/mparticle/sdk'
import type { Operation } from '../../src/types'

const root = globalThis as { mParticle?: unknown }
type Call = (data?: unknown, callback?: (result: unknown) => void) => unknown

/** A runtime stand-in that records what the bridge performs and the failures it reports. */
function host(): BridgeHost & { performed: Array<[string, Operation[]]>; logged: unknown[] } {
  const performed: Array<[string, Operation[]]> = []
  const logged: unknown[] = []
  return {
    failed: (error) => void logged.push(error),
    perform: (label, ops) => {
      performed.push([label, ops])
      return Promise.resolve()
    },
    performed,
    logged,
  }
}

const set = (mpid: string): [string, Operation[]] => ['mparticle', [{ op: 'people.set', props: { $mparticle_user_id: mpid } }]]

/**
 * A stand-in for the mParticle SDK shaped like the real one: the manager
 * forwards identity calls to its instance; every identity call makes
 * `state.next` the current MPID (as the identity service's answer), then
 * calls back. `ready` callbacks wait in `readyQueue`.
 */
function fakeSdk(initial: string | null) {
  const state = { mpid: initial, next: initial }
  const readyQueue: Array<() => void> = []
  const answer: Call = (_data, callback) => {
    state.mpid = state.next
    callback?.({ httpCode: 200 })
  }
  const instance = {
    Identity: {
      getCurrentUser: () => (state.mpid === null ? null : { getMPID: () => state.mpid }),
      identify: answer,
      login: answer,
      logout: answer,
      modify: answer,
    } as IdentityLike,
  }
  const through = (name: string): Call => (data, callback) => (instance.Identity[name] as Call)(data, callback)
  const manager = {
    getInstance: () => instance,
    ready: (f: () => void) => void readyQueue.push(f),
    Identity: { identify: through('identify'), login: through('login'), logout: through('logout'), modify: through('modify') },
  }
  return { manager, instance, state, readyQueue, answer }
}

const call = (identity: unknown, name: string, callback?: (result: unknown) => void): unknown =>
  ((identity as Record<string, Call>)[name] as Call)({ userIdentities: {} }, callback)

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 0))

afterEach(() => {
  vi.clearAllTimers()
  vi.useRealTimers()
  delete root.mParticle
})

describe('startBridge', () => {
  it('sends the MPID at once, through perform, when mParticle already has a user', () => {
    const h = host()
    startBridge(h, fakeSdk('111').manager)
    expect(h.performed).toEqual([set('111')])
  })

  it('waits for mParticle.ready when there is no user yet', () => {
    const h = host()
    const sdk = fakeSdk(null)
    startBridge(h, sdk.manager)
    expect(h.performed).toEqual([])
    sdk.state.mpid = '111'
    for (const f of sdk.readyQueue) f()
    expect(h.performed).toEqual([set('111')])
  })

  it('sends the new MPID after login, logout, identify and modify change it, once per change', () => {
    const h = host()
    const sdk = fakeSdk('111')
    startBridge(h, sdk.manager)
    const answers: unknown[] = []
    sdk.state.next = '222'
    call(sdk.manager.Identity, 'login', (result) => answers.push(result))
    call(sdk.manager.Identity, 'login')
    sdk.state.next = '333'
    call(sdk.instance.Identity, 'logout')
    sdk.state.next = '444'
    call(sdk.instance.Identity, 'identify')
    call(sdk.instance.Identity, 'modify')
    sdk.state.next = '555'
    call(sdk.manager.Identity, 'modify')
    for (const f of sdk.readyQueue) f()
    expect(h.performed).toEqual([set('111'), set('222'), set('333'), set('444'), set('555')])
    expect(answers).toEqual([{ httpCode: 200 }])
  })

  it('never sends an empty, zero or missing MPID, and keeps the last good one', () => {
    const h = host()
    const sdk = fakeSdk('111')
    startBridge(h, sdk.manager)
    for (const next of ['', ' ', '0', null]) {
      sdk.state.next = next
      call(sdk.manager.Identity, 'logout')
    }
    sdk.state.next = '111'
    call(sdk.manager.Identity, 'login')
    expect(h.performed).toEqual([set('111')])
  })

  it('is not loaded with `people: false`: nothing read, wrapped or sent', async () => {
    const sdk = fakeSdk('111')
    const people: unknown[] = []
    const mixpanel = {
      __loaded: true,
      get_property: () => undefined,
      people: { set: (props: unknown) => void people.push(props) },
    } as unknown as MixpanelLike
    createAnalytics({ token: 't', people: false }, { mixpanel, mParticle: sdk.manager })
    await tick()
    expect(sdk.instance.Identity.login).toBe(sdk.answer)
    expect(sdk.readyQueue).toEqual([])
    expect(people).toEqual([])
    // The same page with People on: the bridge loads and sets the MPID.
    createAnalytics({ token: 't' }, { mixpanel, mParticle: sdk.manager })
    await tick()
    expect(people).toEqual([{ $mparticle_user_id: '111' }])
  })

  it('uses window.mParticle when no SDK is given, and the given one when there is', () => {
    root.mParticle = fakeSdk('111').manager
    const fromWindow = host()
    startBridge(fromWindow)
    const fromDeps = host()
    startBridge(fromDeps, fakeSdk('999').manager)
    expect(fromWindow.performed).toEqual([set('111')])
    expect(fromDeps.performed).toEqual([set('999')])
  })

  it('waits for window.mParticle to appear without defining it, then attaches to it', () => {
    vi.useFakeTimers()
    const h = host()
    whenMParticle(undefined, () => void startBridge(h))
    // Nothing defined on the page: `'mParticle' in window` stays false for other scripts.
    expect('mParticle' in root).toBe(false)
    vi.advanceTimersByTime(5000)
    expect(h.performed).toEqual([])
    // Like the snippet: assign an empty object, then fill it in the same task.
    const sdk = fakeSdk('111')
    root.mParticle = {}
    Object.assign(root.mParticle as object, sdk.manager)
    expect(h.performed).toEqual([])
    // Checked once a second at most, once found no more.
    vi.advanceTimersByTime(1000)
    expect(h.performed).toEqual([set('111')])
    expect(vi.getTimerCount()).toBe(0)
    expect(Object.getOwnPropertyDescriptor(root, 'mParticle')).toEqual({ value: root.mParticle, writable: true, enumerable: true, configurable: true })
    sdk.state.next = '222'
    call(sdk.instance.Identity, 'login')
    expect(h.performed).toEqual([set('111'), set('222')])
  })

  it('runs at once when mParticle is already there, given or on window', () => {
    let runs = 0
    whenMParticle({}, () => void (runs += 1))
    root.mParticle = {}
    whenMParticle(undefined, () => void (runs += 1))
    expect(runs).toBe(2)
  })

  it('lets two integrations wait for window.mParticle at the same time', () => {
    vi.useFakeTimers()
    const first = host()
    const second = host()
    whenMParticle(undefined, () => void startBridge(first))
    whenMParticle(undefined, () => void startBridge(second))
    root.mParticle = fakeSdk('111').manager
    vi.advanceTimersByTime(1000)
    expect(first.performed).toEqual([set('111')])
    expect(second.performed).toEqual([set('111')])
  })

  it("goes first in the snippet stub's queue and chains into identity calls queued through the stub", () => {
    const queued = ['logPageView', 'x']
    const rq: unknown[] = [queued]
    const stub = {
      config: { rq },
      ready: (f: unknown) => void rq.push(f),
      Identity: { login: (...args: unknown[]) => void rq.push(['Identity.login', ...args]) } as IdentityLike,
    }
    const h = host()
    startBridge(h, stub)
    expect(rq).toHaveLength(2)
    expect(typeof rq[0]).toBe('function')
    expect(rq[1]).toBe(queued)
    call(stub.Identity, 'login')
    const item = rq[2] as unknown[]
    expect(item[0]).toBe('Identity.login')
    expect(typeof item[2]).toBe('function')
    expect(h.performed).toEqual([])
  })

  it('never throws, whatever a half-built SDK does', async () => {
    const throwing = (): never => {
      throw new Error('half-built')
    }
    const odd = [
      {},
      { Identity: null },
      { getInstance: throwing },
      { getInstance: () => null, ready: throwing },
      { ready: throwing, Identity: { getCurrentUser: throwing } },
      Object.defineProperty({}, 'Identity', { get: throwing }),
    ]
    for (const sdk of odd) {
      const h = host()
      expect(() => startBridge(h, sdk)).not.toThrow()
      expect(h.performed).toEqual([])
    }
    vi.useFakeTimers()
    const h = host()
    whenMParticle(undefined, () => void startBridge(h))
    root.mParticle = { getInstance: throwing }
    expect(() => vi.advanceTimersByTime(1000)).not.toThrow()
    expect(h.performed).toEqual([])
    expect(h.logged).toEqual([new Error('half-built')])
  })
})
