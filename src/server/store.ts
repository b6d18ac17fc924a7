/**
 * Storage behind a small interface: handlers and the sender only talk to
 * `Store`, so a PostgreSQL backend can be added without touching them.
 * Every `apply*` method is one transaction: the state change, the dedupe
 * record and the outgoing updates commit together, or not at all.
 */
import type { Sink, OutboxGauge } from './metrics.js'
import type { AudienceChange, AudienceSettings } from './mparticle-audience.js'
import type { CohortAction, MparticleIdentity } from './mixpanel-cohorts.js'

export interface AudienceProfileInput {
  /** `mpid:<mpid>` or `did:<distinct id>`: what the membership state is keyed by. */
  userKey: string
  /** The Mixpanel distinct id; without one the state is kept but nothing is sent. */
  distinctId: string | undefined
  changes: AudienceChange[]
}

export interface AudienceMessageInput {
  messageId: string
  timestampMs: number
  profiles: AudienceProfileInput[]
  settings: AudienceSettings
  now: number
}

export interface AudienceApplyResult {
  duplicate: boolean
  /** Membership changes that changed state. */
  applied: number
  /** Engage updates written to the outbox. */
  queued: number
  stale: number
  ignoredRemoved: number
  /** Profiles whose membership changed but that have no distinct id. */
  changedWithoutIdentity: number
}

export interface SubscriptionInput {
  messageId: string
  timestampMs: number
  audienceId: number
  audienceName: string
  action: 'add' | 'update' | 'remove'
  now: number
}

export interface CohortMemberInput { key: string; identity: MparticleIdentity }

export interface CohortInput {
  action: CohortAction
  cohortId: string
  cohortName: string
  sessionId: string | undefined
  page: { index: number; total: number } | undefined
  members: CohortMemberInput[]
  /** Set when the delivery can be recognised if replayed. */
  dedupeKey: string | undefined
  /** mParticle Events API base URL the updates go to. */
  dest: string
  environment: string
  now: number
}

export interface CohortApplyResult {
  duplicate: boolean
  entered: number
  left: number
  queued: number
  /** True when this page completed a `members` snapshot. */
  snapshotComplete: boolean
}

export interface OutboxRow {
  id: number
  key: string
  /** The stored update (JSON), see outbox-payloads.ts. */
  payload: string
  attempts: number
  createdAt: number
}

export interface ClaimedBatch { sink: Sink; dest: string; rows: OutboxRow[] }

export interface DueSummary {
  /** Updates that may be sent now. */
  due: number
  /** `created_at` of the oldest of them. */
  oldestDueCreatedAt: number | undefined
  /** The earliest `next_attempt_at` of pending updates that are not due yet. */
  nextDueAt: number | undefined
}

export interface Store {
  applyAudienceMessage(input: AudienceMessageInput): Promise<AudienceApplyResult>
  applySubscription(input: SubscriptionInput): Promise<{ duplicate: boolean; stale: boolean }>
  applyCohortMessage(input: CohortInput): Promise<CohortApplyResult>

  dueSummary(sink: Sink, now: number): Promise<DueSummary>
  /** Marks up to `max` due updates of one destination in flight and returns them. */
  claimBatch(sink: Sink, max: number, now: number): Promise<ClaimedBatch | undefined>
  /** Confirmed by the destination: forget them. */
  complete(ids: readonly number[]): Promise<void>
  /** Back to pending, due at `nextAttemptAt`; coalesces with a newer pending update of the same user. */
  reschedule(ids: readonly number[], nextAttemptAt: number, error: string, countAttempt: boolean, now: number): Promise<void>
  /** Kept as failed with the reason. */
  fail(ids: readonly number[], error: string, now: number): Promise<void>
  /** After a crash: updates that were in flight were not confirmed, so they are pending again. */
  recoverInflight(now: number): Promise<number>

  outboxGauges(now: number): Promise<OutboxGauge[]>
  /** Forgets dedupe records and finished snapshots older than `before`. */
  prune(before: number): Promise<void>
  ping(): Promise<void>
  close(): Promise<void>
}
