/**
 * mParticle `audience_subscription_request`: remembers the audience's name
 * and whether its subscription was removed. Removing does not rewrite users'
 * attributes (docs/shim.md, "mParticle → Mixpanel"). Pure.
 */
import { read } from '../store/state.js'
import type { LoadedState, MessageRequest, PlanStep, RecordRef } from '../store/types.js'
import type { AudienceRecord } from './audience-membership.js'

export interface SubscriptionInput {
  messageId: string
  timestampMs: number
  audienceId: number
  audienceName: string
  action: 'add' | 'update' | 'remove'
}

const audienceRef = (id: number): RecordRef => ({ kind: 'audience', scope: '', key: String(id) })

export function subscriptionRequest(input: SubscriptionInput, now: number): MessageRequest {
  return {
    dedupe: { source: 'mparticle', key: input.messageId },
    locks: [`audience:${input.audienceId}`],
    load: { get: [audienceRef(input.audienceId)] },
    now,
  }
}

export function planSubscription(input: SubscriptionInput) {
  return (state: LoadedState): PlanStep<{ stale: boolean }> => {
    const cur = read<AudienceRecord>(state, audienceRef(input.audienceId))
    if (cur !== null && cur.ts > input.timestampMs) return { result: { stale: true }, writes: [], outgoing: [] }
    const value: AudienceRecord = { name: input.audienceName, removed: input.action === 'remove', ts: input.timestampMs }
    return { result: { stale: false }, writes: [{ ...audienceRef(input.audienceId), value }], outgoing: [] }
  }
}
