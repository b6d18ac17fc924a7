import type { Logger } from '../debug'
import type { NormalizedSettings } from '../settings'
import type { Operation } from '../types'
import { chainIdentityCalls, currentMpid, type MParticleLike } from './sdk'

/** What the bridge needs from the runtime: People updates go through `perform` (and so through `apply.ts`). */
export interface BridgeHost {
  settings: Pick<NormalizedSettings, 'people'>
  log: Logger
  perform(label: string, ops: Operation[]): Promise<void>
}

/** A running bridge. */
export interface Bridge {
  /** Sends the current MPID again (to a profile identified since). */
  resend(): void
}

/**
 * Keeps the Mixpanel People property `$mparticle_user_id` equal to the
 * mParticle MPID (SPEC §9). It checks the MPID when the SDK is ready
 * (`mParticle.ready`) and after every identity answer (callbacks chained into
 * `Identity.identify/login/logout/modify`), and sends it once per new value.
 * An SDK defined after this runs is noticed when `window.mParticle` is
 * assigned. Never throws.
 */
export function startBridge(host: BridgeHost, given?: unknown): Bridge | undefined {
  // `people: false` means no profile writes at all, this one included.
  if (!host.settings.people) return
  const root = globalThis as { mParticle?: MParticleLike }
  const sdk = (): MParticleLike | undefined => (given ?? root.mParticle) as MParticleLike | undefined
  let watched: unknown
  let sent: string | null = null

  function sync(): void {
    try {
      const current = sdk()
      // The manager forwards to its instance, and the SDK calls the instance's Identity itself.
      const target = current?.getInstance ? current.getInstance() : current
      const identity = target?.Identity
      if (identity && identity !== watched) chainIdentityCalls((watched = identity), sync)
      const mpid = currentMpid(target)
      if (mpid && mpid !== sent) {
        sent = mpid
        void host.perform('mparticle', [{ op: 'people.set', props: { $mparticle_user_id: mpid } }])
      }
    } catch (error) {
      host.log.debug('mParticle bridge failed', error)
    }
  }

  function attach(): void {
    sync()
    try {
      const current = sdk()
      // The snippet's stub queues calls in config.rq until the SDK is in. Go
      // first there, so identity calls queued before us are watched too.
      const queue = current?.getInstance ? undefined : current?.config?.rq
      if (Array.isArray(queue)) queue.unshift(sync)
      else current?.ready?.(sync)
    } catch (error) {
      host.log.debug('mParticle bridge failed', error)
    }
  }

  const bridge: Bridge = {
    resend() {
      sent = null
      sync()
    },
  }
  if (sdk()) {
    attach()
    return bridge
  }
  // Not on the page yet: attach when the page (the snippet or the SDK) assigns
  // window.mParticle, a microtask later so that the snippet has filled its stub.
  const before = Object.getOwnPropertyDescriptor(root, 'mParticle')
  try {
    Object.defineProperty(root, 'mParticle', {
      configurable: true,
      enumerable: true,
      get: () => before?.get?.call(root),
      set(value: unknown) {
        before?.set?.call(root, value)
        Object.defineProperty(root, 'mParticle', { value, writable: true, configurable: true, enumerable: true })
        void Promise.resolve().then(attach)
      },
    })
  } catch (error) {
    host.log.debug('mParticle bridge failed', error)
  }
  return bridge
}
