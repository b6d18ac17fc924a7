import type { Server } from 'node:http'

export interface CollectorRecord {
  /** Increasing from 1; `GET /records?since=<id>` returns the later ones. */
  id: number
  /** ISO time it was received. */
  time: string
  endpoint: 'track' | 'engage' | 'groups' | 'import'
  /** The page that sent it (its Origin header); null for a server such as the shim. */
  origin: string | null
  /** One decoded event or profile update. */
  body: Record<string, any>
}

export interface Collector {
  /** e.g. `http://127.0.0.1:8090`: use as mixpanel-browser's `api_host` or the shim's `MIXPANEL_API_HOST`. */
  url: string
  port: number
  host: string
  records: CollectorRecord[]
  clear(): void
  close(): Promise<void>
}

/** Starts a local Mixpanel-compatible collector (`/track`, `/engage`, `/groups`). Port 0 (the default) picks a free one. */
export function startCollector(options?: { port?: number; host?: string; onRecord?: (record: CollectorRecord) => void }): Promise<Collector>
/** Decodes a Mixpanel API payload: `data=` (JSON or base64 JSON, in the body or query) or a raw JSON body; one object or a batch. */
export function decodePayload(raw: string, contentType?: string, query?: URLSearchParams): Record<string, any>[]
export function listen(server: Server, port: number, host: string): Promise<void>
export function closeServer(server: Server): Promise<void>
