/**
 * The flows by name, so a planner can be rebuilt from its name and input in
 * another thread (the SQLite worker runs a whole message in one call).
 */
import type { NamedPlanner, Planner } from '../store/types.js'
import { planMembership, type MembershipInput, type MembershipResult } from './audience-membership.js'
import { planSubscription, type SubscriptionInput } from './audience-subscription.js'
import { planCohort, type CohortInput, type CohortResult } from './cohort.js'

export const PLANNERS = {
  membership: (input: MembershipInput): Planner<MembershipResult> => planMembership(input),
  subscription: (input: SubscriptionInput): Planner<{ stale: boolean }> => planSubscription(input),
  cohort: (input: CohortInput): Planner<CohortResult> => planCohort(input),
}
export type FlowName = keyof typeof PLANNERS

/** The planner of `flow` for `input`, carrying both so it can be rebuilt elsewhere. */
type ResultOf<F extends FlowName> = (typeof PLANNERS)[F] extends (input: never) => Planner<infer R> ? R : never

export function planner<F extends FlowName>(flow: F, input: Parameters<(typeof PLANNERS)[F]>[0]): NamedPlanner<ResultOf<F>> {
  const plan = (PLANNERS[flow] as (i: unknown) => Planner<unknown>)(input)
  return Object.assign(plan, { flow, input }) as never
}

export function rebuildPlanner(flow: string, input: unknown): Planner<unknown> {
  const make = (PLANNERS as Record<string, ((i: never) => Planner<unknown>) | undefined>)[flow]
  if (make === undefined) throw new Error(`unknown flow ${flow}`)
  return make(input as never)
}
