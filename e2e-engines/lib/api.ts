import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { closeServer, decodePayload } from '../../demo/collector.mjs'

// The library's `apiHost` in the engine suite: a front on 127.0.0.1 (an
// ephemeral port) that reads each request, logs it, and either passes it on
// to the demo's collector (which decodes and keeps the records: "delivered")
// or answers with the fault a scenario programmed. Firefox's and WebKit's
// drivers cannot intercept requests as Playwright's `route` does, so faults
// are made where the requests really arrive, the same way in every engine.
// Faults are programmed per token (one token per scenario run), so a late
// request of an earlier scenario never meets them.

/** One request the API received, with what it was answered. */
export interface ApiRequest {
  /** Milliseconds (Date.now) when its body had been read. */
  at: number
  /** When the answer was sent (or the socket destroyed); undefined while held. */
  answeredAt?: number
  /** `track`, `engage`, `groups`… (the first path segment). */
  endpoint: string
  /** Token of its records (undefined for an unreadable body or a preflight). */
  token: string | undefined
  /** The decoded records (empty for an unreadable body). */
  records: Record<string, any>[]
  /** `accepted`: passed on to the collector (Mixpanel has it); `reset`: socket destroyed; `refused`: a non-2xx fault; `held`: not answered yet. */
  outcome: 'accepted' | 'reset' | 'refused' | 'held'
  status: number
  /** A held request whose connection the page had already closed when it was let through. */
  abandoned?: boolean
}

/**
 * A scenario's fault: `'reset'` destroys the socket once the body was read
 * (the page sees no answer, status 0, as a failing proxy or TLS error looks);
 * `{ status, headers }` answers that instead of the collector; `'hold'` keeps
 * the request unanswered until `release()` (then it reaches the collector).
 */
export type FaultAnswer = 'reset' | 'hold' | { status: number; headers?: Record<string, string> }

/** Decides the answer to the `nth` (0-based) request of the token; undefined: no fault. */
export type FaultRule = (request: ApiRequest, nth: number) => FaultAnswer | undefined

/** The first `count` requests (of `endpoint`, when given) get `answer`; later ones pass. */
export function firstRequests(count: number, answer: FaultAnswer, endpoint?: string): FaultRule {
  let matched = 0
  return (request) => {
    if (endpoint !== undefined && request.endpoint !== endpoint) return undefined
    return matched++ < count ? answer : undefined
  }
}

export interface FaultyApi {
  /** `http://127.0.0.1:<port>`: the library's `apiHost`. */
  url: string
  port: number
  /** Every request (with a readable body) in arrival order. */
  requests: ApiRequest[]
  /** Programs the fault of `token`'s requests (null: none). */
  fault(token: string, rule: FaultRule | null): void
  /**
   * The network is down (true) or back (false): while down, every connection
   * is destroyed as soon as it opens and the open ones are destroyed too, so
   * a page's requests fail without an answer (what being offline looks like
   * to a page, for engines whose driver has no offline switch). Only the
   * API's own port: the https site's `/api/…` stays up.
   */
  down(on: boolean): void
  /** Connections destroyed while down. */
  readonly dropped: number
  /** Lets every held request through (to the collector). */
  release(): void
  /** No faults, not down, nothing held (between scenarios). */
  reset(): void
  /** Passes a request of another server (the https site's `/api/…`) through the front, `path` without the prefix. */
  handle(req: IncomingMessage, res: ServerResponse, path: string): void
  close(): Promise<void>
}

export async function startFaultyApi(collectorPort: number): Promise<FaultyApi> {
  const requests: ApiRequest[] = []
  const rules = new Map<string, { rule: FaultRule; seen: number }>()
  const held: Array<() => void> = []
  const sockets = new Set<Socket>()
  let isDown = false
  let dropped = 0

  const handle = (req: IncomingMessage, res: ServerResponse, path: string): void => {
    const chunks: Buffer[] = []
    req.on('data', (chunk: Buffer) => chunks.push(chunk))
    req.on('error', () => undefined)
    res.on('error', () => undefined)
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      const url = new URL(path, 'http://api')
      const endpoint = url.pathname.replace(/^\/+/, '').split('/')[0] ?? ''
      let records: Record<string, any>[] = []
      if (req.method === 'POST' || req.method === 'GET') {
        try {
          records = decodePayload(body.toString('utf8'), String(req.headers['content-type'] ?? ''), url.searchParams)
        } catch {
          // Unreadable: the collector answers it as Mixpanel does.
        }
      }
      const token: string | undefined = records[0]?.properties?.token ?? records[0]?.$token
      const entry: ApiRequest = { at: Date.now(), endpoint, token, records, outcome: 'accepted', status: 0 }
      if (req.method !== 'OPTIONS' && records.length > 0) requests.push(entry)
      const programmed = token === undefined ? undefined : rules.get(token)
      const answer = programmed && req.method !== 'OPTIONS' ? programmed.rule(entry, programmed.seen++) : undefined
      const pass = (): void => {
        passOn(req, res, path, body, collectorPort, (status) => {
          entry.status = status
          entry.answeredAt = Date.now()
        })
      }
      if (answer === undefined) return pass()
      if (answer === 'reset') {
        entry.outcome = 'reset'
        entry.answeredAt = Date.now()
        req.socket.destroy()
        return
      }
      if (answer === 'hold') {
        entry.outcome = 'held'
        held.push(() => {
          entry.outcome = 'accepted'
          entry.abandoned = res.destroyed || req.socket.destroyed
          pass()
        })
        return
      }
      entry.outcome = answer.status >= 200 && answer.status < 300 ? 'accepted' : 'refused'
      entry.status = answer.status
      entry.answeredAt = Date.now()
      res.writeHead(answer.status, { ...cors(req), 'content-type': 'text/plain; charset=utf-8', ...answer.headers })
      res.end(answer.status < 300 ? '1' : '0')
    })
  }

  const server = createServer((req, res) => handle(req, res, req.url ?? '/'))
  server.on('connection', (socket: Socket) => {
    if (isDown) {
      dropped++
      socket.destroy()
      return
    }
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  const release = (): void => {
    for (const pass of held.splice(0)) pass()
  }

  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    fault: (token, rule) => void (rule ? rules.set(token, { rule, seen: 0 }) : rules.delete(token)),
    down(on) {
      isDown = on
      if (on) for (const socket of sockets) socket.destroy()
    },
    get dropped() {
      return dropped
    },
    release,
    reset() {
      rules.clear()
      isDown = false
      release()
    },
    handle,
    close: async () => {
      release()
      await closeServer(server)
    },
  }
}

/**
 * CORS of a fault answer, as the collector's: the Origin echoed with
 * credentials allowed (mixpanel-browser's own requests carry credentials), and
 * `Retry-After` exposed: it is not a CORS-safelisted header, so without
 * `Access-Control-Expose-Headers` a page cannot read it (docs/delivery.md).
 */
function cors(req: IncomingMessage): Record<string, string> {
  const origin = req.headers.origin
  return origin
    ? { 'access-control-allow-origin': origin, 'access-control-allow-credentials': 'true', 'access-control-expose-headers': 'Retry-After', vary: 'Origin' }
    : {}
}

/** Sends the request (its body already read) to the collector and its answer back to the page, if the page still listens. */
function passOn(req: IncomingMessage, res: ServerResponse, path: string, body: Buffer, port: number, answered: (status: number) => void): void {
  const headers = { ...req.headers, 'content-length': String(body.length) }
  delete headers['transfer-encoding']
  const upstream = request({ host: '127.0.0.1', port, method: req.method, path, headers }, (answer) => {
    answered(answer.statusCode ?? 502)
    const chunks: Buffer[] = []
    answer.on('data', (chunk: Buffer) => chunks.push(chunk))
    answer.on('end', () => {
      if (res.destroyed || res.writableEnded) return
      res.writeHead(answer.statusCode ?? 502, { ...answer.headers, 'access-control-expose-headers': 'Retry-After' })
      res.end(Buffer.concat(chunks))
    })
  })
  upstream.on('error', () => {
    answered(502)
    if (!res.headersSent && !res.destroyed) res.writeHead(502).end()
  })
  upstream.end(body)
}
