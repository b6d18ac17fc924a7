/**
 * Upgrades a database written by the first shim (schema 1) in place, inside
 * the opening transaction: state and dedupe records become records, outbox
 * rows keep their order (and their stored payloads, which destinations/ still
 * render). Snapshots in progress are dropped: a sync whose earlier pages are
 * forgotten never completes, so it cannot remove anybody by mistake.
 */
import type Database from 'better-sqlite3'

export function migrateV1(db: Database.Database): void {
  const now = Date.now()
  const put = db.prepare('INSERT OR REPLACE INTO records (kind, scope, key, value, updated_at) VALUES (?, ?, ?, ?, ?)')
  db.exec('INSERT OR IGNORE INTO dedupe (source, key, received_at) SELECT source, message_key, received_at FROM inbound')

  for (const a of db.prepare('SELECT audience_id, name, removed, ts FROM audiences').all() as { audience_id: number; name: string | null; removed: number; ts: number }[]) {
    put.run('audience', '', String(a.audience_id), JSON.stringify({ name: a.name, removed: a.removed === 1, ts: a.ts }), now)
  }

  const users = new Map<string, Record<string, { member: boolean; ts: number }>>()
  for (const m of db.prepare('SELECT user_key, audience_id, member, ts FROM memberships ORDER BY user_key').all() as { user_key: string; audience_id: number; member: number; ts: number }[]) {
    let u = users.get(m.user_key)
    if (u === undefined) users.set(m.user_key, (u = {}))
    u[String(m.audience_id)] = { member: m.member === 1, ts: m.ts }
  }
  for (const [key, audiences] of users) put.run('membership', '', key, JSON.stringify({ audiences }), now)

  for (const c of db.prepare('SELECT cohort_id, name FROM cohorts').all() as { cohort_id: string; name: string }[]) {
    put.run('cohort', '', c.cohort_id, JSON.stringify({ name: c.name }), now)
  }
  // Members keep their old keys (`customer_id:…`, `mpid:…`): the cohort flow finds them under those and moves them.
  for (const m of db.prepare('SELECT cohort_id, member_key, identity, in_cohort FROM cohort_members').all() as { cohort_id: string; member_key: string; identity: string; in_cohort: number }[]) {
    put.run('cohort_member', m.cohort_id, m.member_key, JSON.stringify({ identity: JSON.parse(m.identity) as unknown, in: m.in_cohort === 1 }), now)
  }

  db.exec(`INSERT INTO outbox_rows (sink, dest, user_key, payload, state, attempts, next_attempt_at, created_at, updated_at, last_error)
    SELECT sink, dest, key, payload, CASE state WHEN 'failed' THEN 'failed' ELSE 'pending' END, attempts, next_attempt_at, created_at, updated_at, last_error
    FROM outbox ORDER BY id`)
  db.exec(`DROP TABLE inbound; DROP TABLE audiences; DROP TABLE memberships; DROP TABLE cohorts; DROP TABLE cohort_members;
    DROP TABLE snapshots; DROP TABLE snapshot_members; DROP TABLE outbox;`)
}
