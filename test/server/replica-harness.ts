/**
 * Several shim processes behind a load balancer, as operators run them: the
 * compiled CLI (`node dist/server/cli.js`) started as child processes on one
 * database, a local recording Mixpanel /engage + mParticle /v2/bulkevents,
 * a client that spreads webhooks over the live replicas and retries an
 * unanswered one on another (as mParticle and Mixpanel retry), and a
 * workload whose every intermediate state is distinct, so the order in which
 * a user's updates arrive can be checked from the recordings alone.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { fileURLToPath } from 'node:url'

export const CLI = fileURLToPath(new URL('../../dist/server/cli.js', import.meta.url))

// ---------------------------------------------------------------- sinks

/** One engage update as Mixpanel received it. */
export interface EngageRecord { distinctId: string; segmentMembership: string }
/** One Events API batch as mParticle received it; `user` is `mpid:<n>` or `<identity type>:<value>`. */
export interface BulkRecord { user: string; attributes: Record<string, unknown> }

export interface RecordingSinks {
  url: string
  engage: EngageRecord[]
  bulk: BulkRecord[]
  requests: { engage: number; bulk: number }
  close(): Promise<void>
}

/**
 * Answers like Mixpanel and mParticle after `delayMs` (so batches are in
 * flight when a replica is killed), and records every update in arrival order.
 */
export async function startRecordingSinks(opts: { delayMs?: number } = {}): Promise<RecordingSinks> {
  const delayMs = opts.delayMs ?? 0
  const engage: EngageRecord[] = []
  const bulk: BulkRecord[] = []
  const requests = { engage: 0, bulk: 0 }
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8')
      const path = (req.url ?? '').split('?')[0]
      setTimeout(() => {
        if (res.destroyed) return
        // Recorded only when answered: an update whose request was cut off was not delivered.
        if (path === '/engage') {
          requests.engage++
          for (const u of JSON.parse(text) as { $distinct_id: string; $set: { SegmentMembership: string } }[]) {
            engage.push({ distinctId: u.$distinct_id, segmentMembership: u.$set.SegmentMembership })
          }
          res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":1,"error":null}')
        } else if (path === '/v2/bulkevents') {
          requests.bulk++
          // MPIDs may exceed 2^53: read them from the text before parsing.
          const safe = text.replace(/"mpid":(-?\d+)/g, '"mpid":"$1"')
          for (const b of JSON.parse(safe) as { mpid?: string; user_identities?: Record<string, string>; user_attributes: Record<string, unknown> }[]) {
            const [type, value] = b.mpid !== undefined ? ['mpid', b.mpid] : Object.entries(b.user_identities ?? {})[0] ?? ['?', '?']
            bulk.push({ user: `${type}:${value}`, attributes: b.user_attributes })
          }
          res.writeHead(202, { 'content-type': 'application/json' }).end('')
        } else {
          res.writeHead(404).end()
        }
      }, delayMs)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  return {
    url, engage, bulk, requests,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}

// ---------------------------------------------------------------- replicas

export interface Replica {
  name: string
  url: string
  pid: number
  /** stdout + stderr so far (JSON log lines). */
  output(): string
  /** `kill -9`: no shutdown, no lease released. */
  killHard(): Promise<void>
  /** SIGTERM and wait for the exit (graceful drain). */
  stop(): Promise<number | null>
}

export async function startReplica(name: string, env: Record<string, string>): Promise<Replica> {
  if (!existsSync(CLI)) throw new Error(`${CLI} is missing: run \`npm run build:server\` first`)
  const child: ChildProcess = spawn(process.execPath, [CLI], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', HOST: '127.0.0.1', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d: Buffer) => { out += d.toString('utf8') })
  child.stderr?.on('data', (d: Buffer) => { out += d.toString('utf8') })
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`replica ${name} did not start within 30 s:\n${out}`)), 30_000)
    const onData = (): void => {
      const m = /"msg":"shim listening".*?"url":"([^"]+)"/.exec(out)
      if (m !== null) { clearTimeout(timer); resolve(m[1]!) }
    }
    child.stdout?.on('data', onData)
    void exited.then((code) => { clearTimeout(timer); reject(new Error(`replica ${name} exited with ${code} before listening:\n${out}`)) })
  })
  return {
    name, url, pid: child.pid!,
    output: () => out,
    killHard: async () => { child.kill('SIGKILL'); await exited },
    stop: async () => { child.kill('SIGTERM'); return exited },
  }
}

// ---------------------------------------------------------------- load balancer

export interface Answer { status: number; body: string }

/**
 * Round-robin over the replicas that are up; a request that gets no answer
 * (connection refused or reset: the replica died) or a 5xx is sent again to
 * the next replica, so every change is eventually acknowledged once.
 */
export class LoadBalancer {
  private replicas: Replica[] = []
  private next = 0
  private readonly agents = new Map<string, http.Agent>()
  /** Requests sent again after no answer or a 5xx. */
  retries = 0

  set(replicas: Replica[]): void { this.replicas = [...replicas] }

  add(r: Replica): void { this.replicas.push(r) }

  remove(r: Replica): void { this.replicas = this.replicas.filter((x) => x !== r) }

  async post(path: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
    for (let attempt = 0; ; attempt++) {
      if (attempt > 200) throw new Error(`no replica answered ${path} after 200 attempts`)
      const replica = this.replicas[this.next++ % Math.max(1, this.replicas.length)]
      if (replica === undefined) { await pause(50); continue }
      let answer: Answer | undefined
      try {
        answer = await this.send(replica, path, body, headers)
      } catch {
        answer = undefined
      }
      if (answer !== undefined && answer.status < 500) return answer
      this.retries++
      await pause(20)
    }
  }

  async get(replica: Replica, path: string): Promise<Answer> {
    return this.send(replica, path, undefined, {})
  }

  private send(replica: Replica, path: string, body: string | undefined, headers: Record<string, string>): Promise<Answer> {
    let agent = this.agents.get(replica.url)
    if (agent === undefined) {
      agent = new http.Agent({ keepAlive: true, maxSockets: 16 })
      this.agents.set(replica.url, agent)
    }
    const u = new URL(path, replica.url)
    return new Promise((resolve, reject) => {
      const req = http.request(u, {
        method: body === undefined ? 'GET' : 'POST',
        agent,
        headers: body === undefined ? headers : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)), ...headers },
        timeout: 30_000,
      }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }))
        res.on('error', reject)
      })
      req.on('timeout', () => req.destroy(new Error('timeout')))
      req.on('error', reject)
      req.end(body)
    })
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy()
  }
}

const pause = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

// ---------------------------------------------------------------- workload

/**
 * Change j of a user (both directions), over "slots" 0, 1, 2 …:
 * j = 0 enters slot 0; j = 2k−1 enters slot k; j = 2k leaves slot k−1.
 * States after each change: {0}, {0,1}, {1}, {1,2}, {2} … all distinct.
 */
export function changeAt(j: number): { slot: number; enter: boolean } {
  if (j === 0) return { slot: 0, enter: true }
  return j % 2 === 1 ? { slot: (j + 1) / 2, enter: true } : { slot: j / 2 - 1, enter: false }
}

/** Slots a user is in after changes 0..j. */
export function slotsAfter(j: number): number[] {
  if (j === 0) return [0]
  return j % 2 === 1 ? [(j - 1) / 2, (j + 1) / 2] : [j / 2]
}

/** Index of the change that set `slot` to `member` (entering slot k is change 2k−1, 0 for k = 0; leaving it 2k+2). */
export function changeOfAttribute(slot: number, member: boolean): number {
  if (member) return slot === 0 ? 0 : 2 * slot - 1
  return 2 * slot + 2
}

export const AUDIENCE_BASE = 30_000

/** `SegmentMembership` after changes 0..j. */
export function segmentMembershipAfter(j: number): string {
  return slotsAfter(j).map((s) => AUDIENCE_BASE + s).sort((a, b) => a - b).map((a) => `'${a}'`).join(',')
}

export interface OrderReport {
  users: number
  /** Users whose final state at the sink differs from the state after their last acknowledged change. */
  wrongFinal: string[]
  /** An update that would take a user (or one attribute) back to an older state. */
  outOfOrder: number
  /** Updates received again with a state already received. */
  duplicates: number
  examples: string[]
}

/** Mixpanel: each update carries the whole SegmentMembership, so its change index is known. */
export function checkEngage(records: readonly EngageRecord[], lastAcked: ReadonlyMap<string, number>, changes: number): OrderReport {
  const indexOf = new Map<string, number>()
  for (let j = 0; j < changes; j++) indexOf.set(segmentMembershipAfter(j), j)
  const report: OrderReport = { users: lastAcked.size, wrongFinal: [], outOfOrder: 0, duplicates: 0, examples: [] }
  const seen = new Map<string, Set<number>>()
  const latest = new Map<string, number>()
  for (const r of records) {
    const j = indexOf.get(r.segmentMembership)
    if (j === undefined) {
      report.outOfOrder++
      report.examples.push(`${r.distinctId}: unexpected SegmentMembership ${r.segmentMembership}`)
      continue
    }
    const prev = latest.get(r.distinctId) ?? -1
    const got = seen.get(r.distinctId) ?? new Set<number>()
    seen.set(r.distinctId, got)
    if (got.has(j)) report.duplicates++
    got.add(j)
    if (j < prev) {
      report.outOfOrder++
      if (report.examples.length < 5) report.examples.push(`${r.distinctId}: state ${j} arrived after state ${prev}`)
    } else {
      latest.set(r.distinctId, j)
    }
  }
  const lastReceived = new Map<string, string>()
  for (const r of records) lastReceived.set(r.distinctId, r.segmentMembership)
  for (const [user, j] of lastAcked) {
    if (lastReceived.get(user) !== segmentMembershipAfter(j)) report.wrongFinal.push(user)
  }
  return report
}

/** mParticle: updates carry the changed attributes only, so order is checked per attribute. */
export function checkBulk(records: readonly BulkRecord[], lastAcked: ReadonlyMap<string, number>, attributeName: (slot: number) => string): OrderReport {
  const slotOf = new Map<string, number>()
  for (let s = 0; s < 1000; s++) slotOf.set(attributeName(s), s)
  const report: OrderReport = { users: lastAcked.size, wrongFinal: [], outOfOrder: 0, duplicates: 0, examples: [] }
  const latest = new Map<string, number>()
  const seen = new Set<string>()
  const final = new Map<string, Map<number, boolean>>()
  for (const r of records) {
    const state = final.get(r.user) ?? new Map<number, boolean>()
    final.set(r.user, state)
    for (const [name, value] of Object.entries(r.attributes)) {
      const slot = slotOf.get(name)
      if (slot === undefined || typeof value !== 'boolean') {
        report.outOfOrder++
        report.examples.push(`${r.user}: unexpected attribute ${name}=${JSON.stringify(value)}`)
        continue
      }
      const j = changeOfAttribute(slot, value)
      const key = `${r.user} ${slot}`
      if (seen.has(`${key} ${j}`)) report.duplicates++
      seen.add(`${key} ${j}`)
      const prev = latest.get(key) ?? -1
      if (j < prev) {
        report.outOfOrder++
        if (report.examples.length < 5) report.examples.push(`${r.user}: ${name}=${value} (change ${j}) arrived after change ${prev}`)
        continue
      }
      latest.set(key, j)
      state.set(slot, value)
    }
  }
  for (const [user, j] of lastAcked) {
    // Expected: every slot touched by changes 0..j holds its last value.
    const want = new Map<number, boolean>()
    for (let i = 0; i <= j; i++) { const c = changeAt(i); want.set(c.slot, c.enter) }
    const got = final.get(user)
    const ok = got !== undefined && want.size === got.size && [...want].every(([s, v]) => got.get(s) === v)
    if (!ok) report.wrongFinal.push(user)
  }
  return report
}
