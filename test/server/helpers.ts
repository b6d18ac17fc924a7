/** Shared test helpers: local mock Mixpanel / mParticle servers, temp DBs, message builders. */
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '../../src/server/config.js'
import { createLogger, type Logger } from '../../src/server/logger.js'
import { createShim, type Shim } from '../../src/server/shim.js'

export interface RecordedRequest {
  method: string
  url: string
  headers: IncomingHttpHeaders
  body: string
  at: number
}

export interface ScriptedResponse {
  status?: number
  headers?: Record<string, string>
  body?: string
  /** Never answer (the request stays in flight). */
  hang?: boolean
  /** Drop the connection without an answer. */
  destroy?: boolean
}

/** A local HTTP server that records every request and answers from a script, then with a default. */
export class MockUpstream {
  readonly requests: RecordedRequest[] = []
  private script: ScriptedResponse[] = []
  private readonly sockets = new Set<Socket>()
  private readonly hanging = new Set<ServerResponse>()
  url = ''
  port = 0

  /** Answers from the request body when no scripted answer is left; `undefined` falls back. */
  decide: ((body: string) => ScriptedResponse | undefined) | undefined

  private constructor(private readonly server: Server, public fallback: ScriptedResponse) {}

  static async start(fallback: ScriptedResponse = { status: 200, body: '{"status":1,"error":null}' }, port = 0): Promise<MockUpstream> {
    let mock: MockUpstream | undefined
    const server = createServer((req, res) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => mock?.handle(req.method ?? '', req.url ?? '', req.headers, Buffer.concat(chunks).toString('utf8'), res))
    })
    mock = new MockUpstream(server, fallback)
    server.on('connection', (s) => { mock?.sockets.add(s); s.on('close', () => mock?.sockets.delete(s)) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(port, '127.0.0.1', () => resolve())
    })
    mock.port = (server.address() as AddressInfo).port
    mock.url = `http://127.0.0.1:${mock.port}`
    return mock
  }

  /** The next answers, in order; afterwards `fallback` answers. */
  respond(...responses: ScriptedResponse[]): void {
    this.script.push(...responses)
  }

  private handle(method: string, url: string, headers: IncomingHttpHeaders, body: string, res: ServerResponse): void {
    this.requests.push({ method, url, headers, body, at: Date.now() })
    const r = this.script.shift() ?? this.decide?.(body) ?? this.fallback
    if (r.hang === true) { this.hanging.add(res); return }
    if (r.destroy === true) { res.socket?.destroy(); return }
    res.writeHead(r.status ?? 200, { 'content-type': 'application/json', ...r.headers })
    res.end(r.body ?? '')
  }

  /** Request bodies parsed as JSON. */
  bodies(): unknown[] {
    return this.requests.map((r) => JSON.parse(r.body) as unknown)
  }

  async close(): Promise<void> {
    for (const res of this.hanging) res.destroy()
    for (const s of this.sockets) s.destroy()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

export function tempDir(): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'shim-test-'))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Quiet, fast settings for tests; override per test. */
export function testEnv(over: Record<string, string | undefined> = {}): Record<string, string | undefined> {
  return {
    SHIM_DB: ':memory:',
    SHIM_LOG_LEVEL: 'silent',
    SHIM_BATCH_LINGER_MS: '0',
    SHIM_RETRY_BASE_MS: '20',
    SHIM_RETRY_MAX_MS: '200',
    SHIM_SHUTDOWN_TIMEOUT_MS: '2000',
    SHIM_SQLITE_SYNCHRONOUS: 'normal',
    MIXPANEL_TOKEN: 'tok',
    MPARTICLE_API_KEY: 'key',
    MPARTICLE_API_SECRET: 'secret',
    ...over,
  }
}

/** Captures log lines, to assert on them (and that secrets never appear). */
export function captureLogger(): { logger: Logger; lines: string[] } {
  const lines: string[] = []
  return { logger: createLogger('debug', (l) => lines.push(l)), lines }
}

export async function startTestShim(env: Record<string, string | undefined>, logger?: Logger): Promise<Shim> {
  const shim = await createShim({ config: loadConfig(env), ...(logger !== undefined ? { logger } : {}) })
  await shim.start()
  return shim
}

export async function post(shim: Shim, path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return shim.app.request(path, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

export async function waitFor(check: () => boolean, timeoutMs = 8000, what = 'condition'): Promise<void> {
  const start = Date.now()
  while (!check()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms))

let seq = 0
/** A unique Firehose message id. */
export const msgId = (): string => `00000000-0000-4000-8000-${String(++seq).padStart(12, '0')}`

export type AudienceTriple = [id: number, name: string, action: 'add' | 'delete']

export function profile(opts: {
  customer?: string
  idfv?: string
  idfa?: string
  androidId?: string
  mpid?: string
  audiences: AudienceTriple[]
}): Record<string, unknown> {
  const user: unknown[] = []
  const device: unknown[] = []
  if (opts.customer !== undefined) user.push({ type: 'customer', encoding: 'raw', value: opts.customer })
  if (opts.idfv !== undefined) device.push({ type: 'ios_vendor_id', encoding: 'raw', value: opts.idfv })
  if (opts.idfa !== undefined) device.push({ type: 'ios_advertising_id', encoding: 'raw', value: opts.idfa })
  if (opts.androidId !== undefined) device.push({ type: 'android_id', encoding: 'raw', value: opts.androidId })
  return {
    user_identities: user,
    device_identities: device,
    audiences: opts.audiences.map(([id, name, action]) => ({ audience_id: id, audience_name: name, action })),
    ...(opts.mpid !== undefined ? { mpid: opts.mpid } : {}),
  }
}

type EnvelopeOptions = { id?: string; ts?: number; settings?: Record<string, string> }

/** The fields every mParticle firehose request carries. */
function envelope(type: string, opts: EnvelopeOptions): Record<string, unknown> {
  return {
    type,
    id: opts.id ?? msgId(),
    timestamp_ms: opts.ts ?? 1_700_000_000_000,
    firehose_version: '2.8.1',
    account: { account_id: 123456, account_settings: opts.settings ?? {} },
  }
}

export function membership(profiles: Record<string, unknown>[], opts: EnvelopeOptions = {}): Record<string, unknown> {
  return { ...envelope('audience_membership_change_request', opts), user_profiles: profiles }
}

export function subscription(audienceId: number, name: string, action: 'add' | 'update' | 'remove', opts: EnvelopeOptions = {}): Record<string, unknown> {
  return {
    ...envelope('audience_subscription_request', opts),
    audience_id: audienceId,
    audience_name: name,
    action,
  }
}

export function cohort(action: 'members' | 'add_members' | 'remove_members', members: Record<string, unknown>[], opts: {
  id?: string | number
  name?: string
  session?: string
  page?: [pageCount: number, totalPages: number]
} = {}): Record<string, unknown> {
  return {
    action,
    parameters: {
      mixpanel_project_id: '3141',
      mixpanel_cohort_id: opts.id ?? '77',
      mixpanel_cohort_name: opts.name ?? 'Power Users',
      mixpanel_cohort_description: 'test cohort',
      ...(opts.session !== undefined ? { mixpanel_session_id: opts.session } : {}),
      ...(opts.page !== undefined ? { page_info: { page_count: opts.page[0], total_pages: opts.page[1] } } : {}),
      members,
    },
  }
}

/** The engage updates of every recorded request, flattened. */
export function engageUpdates(mock: MockUpstream): Record<string, unknown>[] {
  return mock.bodies().flatMap((b) => b as Record<string, unknown>[])
}

export function basic(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`
}
