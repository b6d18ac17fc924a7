import { describe, expect, it } from 'vitest'
import { chainIdentityCalls, currentMpid, type IdentityLike } from '../../src/mparticle/sdk'

const withUser = (getMPID: () => unknown) => ({ Identity: { getCurrentUser: () => ({ getMPID }) } })

describe('currentMpid', () => {
  it('returns the MPID of the current user', () => {
    expect(currentMpid(withUser(() => '-8571620541311453345'))).toBe('-8571620541311453345')
  })

  it('returns null when there is no SDK, no Identity, no current user or no getMPID', () => {
    expect(currentMpid(undefined)).toBeNull()
    expect(currentMpid(null)).toBeNull()
    expect(currentMpid({})).toBeNull()
    expect(currentMpid({ Identity: {} })).toBeNull()
    expect(currentMpid({ Identity: { getCurrentUser: () => null } })).toBeNull()
    expect(currentMpid({ Identity: { getCurrentUser: () => ({}) } })).toBeNull()
  })

  it('returns null for an empty, blank, zero or non-string MPID', () => {
    for (const value of ['', '   ', '0', null, undefined, 0, 123, {}]) {
      expect(currentMpid(withUser(() => value))).toBeNull()
    }
  })

  it('returns null instead of throwing when the SDK throws', () => {
    expect(currentMpid({ Identity: { getCurrentUser: () => { throw new Error('not ready') } } })).toBeNull()
    expect(currentMpid(withUser(() => { throw new Error('no user') }))).toBeNull()
  })
})

describe('chainIdentityCalls', () => {
  /** A fake Identity whose calls answer at once with `{ httpCode: 200 }`. */
  function fakeIdentity(log: string[]): IdentityLike {
    const call = (name: string) =>
      function (this: unknown, data: unknown, callback?: unknown) {
        log.push(`${name}(${JSON.stringify(data)})`)
        if (typeof callback === 'function') callback({ httpCode: 200 })
        return `${name}-returned`
      }
    return { identify: call('identify'), login: call('login'), logout: call('logout'), modify: call('modify'), getCurrentUser: () => null }
  }

  it('runs `after` once each call completes, before the caller’s callback, which still gets the result', () => {
    const log: string[] = []
    const identity = fakeIdentity(log)
    chainIdentityCalls(identity, () => log.push('after'))
    for (const name of ['identify', 'login', 'logout', 'modify']) {
      const returned = (identity[name] as (d: unknown, cb: (r: unknown) => void) => unknown)({ userIdentities: { email: 'a@b.co' } }, (result) => log.push(`callback ${JSON.stringify(result)}`))
      expect(returned).toBe(`${name}-returned`)
    }
    expect(log).toEqual([
      'identify({"userIdentities":{"email":"a@b.co"}})', 'after', 'callback {"httpCode":200}',
      'login({"userIdentities":{"email":"a@b.co"}})', 'after', 'callback {"httpCode":200}',
      'logout({"userIdentities":{"email":"a@b.co"}})', 'after', 'callback {"httpCode":200}',
      'modify({"userIdentities":{"email":"a@b.co"}})', 'after', 'callback {"httpCode":200}',
    ])
  })

  it('adds a callback when the caller gave none', () => {
    const log: string[] = []
    const identity = fakeIdentity(log)
    chainIdentityCalls(identity, () => log.push('after'))
    ;(identity.login as (d?: unknown) => unknown)()
    expect(log).toEqual(['login(undefined)', 'after'])
  })

  it('passes a callback that is not a function through unchanged, so the SDK still rejects it', () => {
    const seen: unknown[] = []
    const identity: IdentityLike = { login: (_data: unknown, callback: unknown) => seen.push(callback) }
    chainIdentityCalls(identity, () => seen.push('after'))
    ;(identity.login as (d: unknown, cb: unknown) => unknown)({}, 'not a function')
    expect(seen).toEqual(['not a function'])
  })

  it('keeps `this` for the original call and the caller’s callback', () => {
    const identity: IdentityLike & { tag: string } = {
      tag: 'identity',
      login(this: { tag: string }, _data: unknown, callback: (this: unknown) => void) {
        callback.call({ tag: 'result-this' })
        return this.tag
      },
    }
    chainIdentityCalls(identity, () => {})
    let callbackThis: unknown
    const returned = (identity.login as (d: unknown, cb: () => void) => unknown).call(identity, {}, function (this: unknown) {
      callbackThis = this
    })
    expect(returned).toBe('identity')
    expect(callbackThis).toEqual({ tag: 'result-this' })
  })

  it('leaves members that are not functions alone', () => {
    const identity: IdentityLike = { login: 'nope', getCurrentUser: () => null }
    chainIdentityCalls(identity, () => {})
    expect(identity).toEqual({ login: 'nope', getCurrentUser: identity.getCurrentUser })
  })
})
