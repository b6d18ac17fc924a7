import type { Collector, CollectorRecord } from './collector.mjs'

export interface DemoPorts {
  demo?: number
  collector?: number
  shim?: number
}

export interface DemoConfig {
  token: string
  apiHost: string | null
  mode: 'collector' | 'proxy' | 'mixpanel'
  collector: string
  shim: string | null
  shimUnavailable: string | null
  /** Where the page finds the mParticle Web SDK and the local identity stand-in (same origin), or null when the SDK is not installed. */
  mparticle: { apiKey: string; sdk: string; base: string } | null
  mparticleUnavailable: string | null
}

export interface RunningDemo {
  demo: { url: string; port: number }
  collector: Collector
  shim: { url: string; port: number; secret: string } | null
  /** Why the shim is not running (not built, failed to start), or null. */
  shimUnavailable: string | null
  config: DemoConfig
  close(): Promise<void>
}

export const DEFAULT_PORTS: Required<DemoPorts>
export const DEMO_SHIM_SECRET: string
export const DEMO_MPARTICLE_KEY: string

/** The shell commands that try the shim (printed by `npm start`, shown in the README): user-42 joins audience 9001, then the collector's records. */
export function shimCurl(input: { shimUrl: string; collectorUrl: string; secret?: string }): string

/** The MPID the demo's mParticle identity stand-in answers for a key: `'customerid:<id>'`, `'anonymous'` or `'logged-out'`. */
export function demoMpid(key: string): string

/** Starts the demo site, the collector and (when built) the shim. A busy port falls back to a free one, reported through `log`. */
export function startDemo(options?: {
  ports?: DemoPorts
  host?: string
  env?: Record<string, string | undefined>
  shim?: boolean
  log?: (line: string) => void
  onRecord?: (record: CollectorRecord) => void
}): Promise<RunningDemo>

export function audienceMessage(input: { userId: string; audienceId: number; audienceName: string; action: 'add' | 'delete' }): Record<string, unknown>
