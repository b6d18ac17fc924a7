/**
 * The part of the mParticle Web SDK the bridge touches: the instance manager
 * (`window.mParticle`, the npm default export), one of its instances, or the
 * snippet's stub. Every member is optional: a half-loaded SDK must not throw.
 */
export interface MParticleLike {
  /** The manager's default instance (the object whose `Identity` the SDK itself calls). */
  getInstance?(): MParticleLike | null | undefined
  /** Runs the callback once the SDK has its first identity answer (at once when it has). */
  ready?(callback: () => void): void
  /** The snippet's stub keeps its queue (calls and ready callbacks) in `config.rq`. */
  config?: { rq?: unknown }
  Identity?: IdentityLike
}

export interface IdentityLike {
  getCurrentUser?(): { getMPID?(): unknown } | null | undefined
  [call: string]: unknown
}

/** The current MPID when there is one worth sending (a non-blank string other than `'0'`), else null. Never throws. */
export function currentMpid(sdk: MParticleLike | null | undefined): string | null {
  try {
    const id = sdk?.Identity?.getCurrentUser?.()?.getMPID?.()
    return typeof id === 'string' && id.trim() && id !== '0' ? id : null
  } catch {
    return null
  }
}

/**
 * Chains `after` into the completion callback of `identify`, `login`,
 * `logout` and `modify` on an SDK `Identity` object, before the caller's own
 * callback. The SDK calls its instance's `Identity.identify` itself (at init
 * and at a new session), so wrapping the instance's object sees every answer.
 * A non-function callback is passed through so the SDK still rejects it.
 */
export function chainIdentityCalls(identity: IdentityLike, after: () => void): void {
  for (const name of ['identify', 'login', 'logout', 'modify']) {
    const call = identity[name]
    if (typeof call === 'function') {
      identity[name] = function (this: unknown, data: unknown, callback?: unknown) {
        return call.call(
          this,
          data,
          callback === undefined || typeof callback === 'function'
            ? function (this: unknown, ...result: unknown[]) {
                after()
                return (callback as ((...args: unknown[]) => unknown) | undefined)?.apply(this, result)
              }
            : callback,
        )
      }
    }
  }
}
