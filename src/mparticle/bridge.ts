import type { Operation } from '../types'
import { chainIdentityCalls, currentMpid, type MParticleLike } from './sdk'

/**
 * What the bridge needs from the runtime: People updates go through `perform`
 * (and so through `apply.ts`); `failed` logs under `debug`. (No value import
 * from the entry: this module is a chunk of its own.)
 */
export interface BridgeHost {
  perform(label: string, ops: Operation[]): Promise<void>
  failed(error: unknown): void
}

/** A running bridge. */
export interface Bridge {
  /** Sends the current MPID again (to a profile identified since). */
  resend(): void
}

/**
 * Keeps the Mixpanel People property `$mparticle_user_id` equal to the
 * mParticle MPID (docs/mparticle.md). It checks the MPID at once, when the SDK is ready
 * (`mParticle.ready`) and after every identity answer (callbacks chained into
 * `Identity.identify/login/logout/modify`), and sends it once per new value.
 * Loaded by the runtime once the SDK is on the page (`whenMParticle`). Never throws.
 */
export function startBridge(host: BridgeHost, given?: unknown): Bridge {
  const sdk = (): MParticleLike | undefined => (given ?? (globalThis as { mParticle?: MParticleLike }).mParticle) as MParticleLike | undefined
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
      host.failed(error)
    }
  }

  sync()
  try {
    const current = sdk()
    // The snippet's stub queues calls in config.rq until the SDK is in. Go
    // first there, so identity calls queued before us are watched too.
    const queue = current?.getInstance ? undefined : current?.config?.rq
    if (Array.isArray(queue)) queue.unshift(sync)
    else current?.ready?.(sync)
  } catch (error) {
    host.failed(error)
  }
  return {
    resend() {
      sent = null
      sync()
    },
  }
}
