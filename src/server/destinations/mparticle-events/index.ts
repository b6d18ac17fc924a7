/**
 * mParticle's server-to-server Events API (`POST {host}/v2/bulkevents`, HTTP
 * Basic key:secret, at most 100 batches a request). A user's rows coalesce
 * into one batch: the newest identity, every attribute with its newest value.
 */
import type { HttpClient } from '../../http-client.js'
import { parseMpid } from '../../mpid.js'
import type { OutboxRow } from '../../store/types.js'
import { byStatus, isAnswer, post } from '../answer.js'
import { byUser, type Answer, type Destination, type UserUpdate } from '../types.js'

/** An mParticle identity: `mpid`, or a user identity key such as `customer_id`. */
export interface MparticleIdentity { type: string; value: string }

/** One person's queued update (also what the first shim stored). */
export interface MparticlePayload {
  identity: MparticleIdentity
  environment: string
  user_attributes: Record<string, boolean>
}

/**
 * One Events API batch. The MPID is a signed 64-bit integer that JSON numbers
 * in JavaScript cannot hold exactly, so it is written as a number literal.
 */
export function renderBatch(identity: MparticleIdentity, attributes: Record<string, unknown>, environment: string): string {
  const parts = [`"environment":${JSON.stringify(environment)}`]
  if (identity.type === 'mpid') parts.push(`"mpid":${parseMpid(identity.value) ?? '0'}`)
  else parts.push(`"user_identities":${JSON.stringify({ [identity.type]: identity.value })}`)
  parts.push(`"user_attributes":${JSON.stringify(attributes)}`, '"schema_version":2')
  return `{${parts.join(',')}}`
}

export function mparticleEvents(apiKey: string | undefined, apiSecret: string | undefined): Destination {
  const auth = `Basic ${Buffer.from(`${apiKey ?? ''}:${apiSecret ?? ''}`).toString('base64')}`
  return {
    sink: 'mparticle',
    maxUpdates: 100,

    coalesce(rows: readonly OutboxRow[]): UserUpdate[] {
      return byUser(rows).map(({ userKey, rows: rs }) => {
        let last: MparticlePayload | undefined
        let attributes: Record<string, boolean> = {}
        for (const r of rs) {
          last = JSON.parse(r.payload) as MparticlePayload
          attributes = { ...attributes, ...last.user_attributes }
        }
        return { userKey, ids: rs.map((r) => r.id), attempts: Math.max(...rs.map((r) => r.attempts)), body: renderBatch(last!.identity, attributes, last!.environment) }
      })
    },

    async deliver(http: HttpClient, dest: string, updates: readonly UserUpdate[], signal: AbortSignal): Promise<Answer> {
      if (apiKey === undefined || apiSecret === undefined) {
        return { kind: 'pause', reason: 'MPARTICLE_API_KEY / MPARTICLE_API_SECRET are not set' }
      }
      const res = await post(http, `${dest}/v2/bulkevents`, { 'content-type': 'application/json', authorization: auth },
        `[${updates.map((u) => u.body).join(',')}]`, signal)
      if (isAnswer(res)) return res
      return byStatus(res, Date.now()) ?? { kind: 'ok' }
    },
  }
}
