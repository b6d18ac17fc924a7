/**
 * Warm-up of the webhook path before the shim accepts traffic: a fresh
 * process answered its first second of webhooks at a p99 of 68–125 ms against
 * ≤ 42 ms after it, most of it V8 compiling that path on first use
 * (docs/shim.md, "Benchmark"). Synthetic membership webhooks run through a
 * throw-away store on `:memory:` exactly as real ones do; nothing of them
 * reaches the real database or any destination.
 */
import { loadConfig, type ShimConfig } from '../config.js'
import { membershipRequest, type MembershipInput } from '../flows/audience-membership.js'
import { parseFirehoseMessage, resolveAudienceSettings } from '../flows/firehose.js'
import { rebuildPlanner } from '../flows/index.js'
import { SqliteCore } from './sqlite-core.js'

/** Synthetic webhooks per warm-up: every step of the path runs many times (V8 compiles on first use), tens of ms in all. */
export const WARM_UP_WEBHOOKS = 60
const PROFILES = 4
const CHANGES_PER_PROFILE = 3
/** Claimed and completed every this many webhooks, as the sender does while webhooks arrive. */
const CLAIM_EVERY = 10

/** The JSON body of synthetic membership webhook `i` (pure: the same for every process). */
export function warmUpBody(i: number): string {
  const profiles = Array.from({ length: PROFILES }, (_, p) => {
    const user = (i * PROFILES + p) % 100
    return {
      user_identities: [{ type: 'customer', encoding: 'raw', value: `warm-up-${user}` }],
      mpid: String(9_000_000 + user),
      audiences: Array.from({ length: CHANGES_PER_PROFILE }, (_, a) => {
        const id = 1 + ((i + a * 7) % 20)
        return { audience_id: id, audience_name: `Warm-up ${id}`, action: (i + a) % 4 === 0 ? 'delete' : 'add' }
      }),
    }
  })
  return JSON.stringify({
    type: 'audience_membership_change_request', id: `warm-up-${i}`, timestamp_ms: 1_700_000_000_000 + i,
    firehose_version: '2.8.1', account: { account_id: 1, account_settings: {} }, user_profiles: profiles,
  })
}

/** A configuration for synthetic input only: a made-up token, and a destination nothing is ever sent to. */
export function warmUpConfig(): ShimConfig {
  return loadConfig({ MIXPANEL_TOKEN: 'warm-up', MIXPANEL_API_HOST: 'http://127.0.0.1:9', SHIM_DB: ':memory:' })
}

/**
 * Runs `webhooks` synthetic membership webhooks through a throw-away core on
 * `:memory:` (no lock file, no fsync) as the worker runs real ones: apply with
 * the planner rebuilt from its flow, claim and complete the engage updates.
 * Resolves to the milliseconds it took.
 */
export async function warmUpCore(webhooks = WARM_UP_WEBHOOKS): Promise<number> {
  const started = performance.now()
  const config = warmUpConfig()
  const core = new SqliteCore({ path: ':memory:', synchronous: 'normal' })
  try {
    const drain = async (): Promise<void> => {
      for (;;) {
        const batch = await core.claim('mixpanel', { owner: 'warm-up', max: 2000, now: Date.now(), leaseMs: 60_000 })
        if (batch === undefined) return
        await core.complete('warm-up', batch.rows.map((r) => r.id))
        if (batch.rows.length < 2000) return
      }
    }
    for (let i = 0; i < webhooks; i++) {
      const message = parseFirehoseMessage(JSON.parse(warmUpBody(i)))
      if (message.type !== 'audience_membership_change_request') throw new Error('warm-up body is not a membership change')
      const input: MembershipInput = {
        messageId: message.id, timestampMs: message.timestampMs, profiles: message.profiles,
        settings: resolveAudienceSettings(config, message.accountSettings, true), identityOrder: config.identityOrder,
      }
      // Structured clone, as the message from the HTTP thread is.
      const cloned = structuredClone(input)
      await core.apply(membershipRequest(cloned, Date.now()), rebuildPlanner('membership', cloned))
      if ((i + 1) % CLAIM_EVERY === 0) await drain()
    }
    await drain()
  } finally {
    await core.close()
  }
  return performance.now() - started
}
