/**
 * Configuration of the audience shim, read from environment variables.
 *
 * The variable names without the `SHIM_` prefix are the documented contract;
 * the `SHIM_*` ones are additions. `ENV_VARS` is the single source of the
 * defaults (`loadConfig` reads them from it), of `--help` and of the table in
 * docs/shim.md (a test keeps that table equal to this one).
 */

/** One documented environment variable. */
export interface EnvVarDoc {
  name: string
  /** Shown in `--help` and the docs; `—` when unset by default. */
  default: string
  description: string
}

export const ENV_VARS: readonly EnvVarDoc[] = [
  { name: 'PORT', default: '8787', description: 'HTTP port (0 = any free port)' },
  { name: 'HOST', default: '127.0.0.1', description: 'address to listen on' },
  { name: 'SHIM_DB', default: './shim.sqlite', description: 'SQLite file (WAL mode); `:memory:` for a throw-away store' },
  { name: 'DATABASE_URL', default: '—', description: '`postgres://…` selects PostgreSQL: several replicas share one database (docs/shim-replicas.md); needs the `pg` package' },
  { name: 'SHIM_PG_POOL_SIZE', default: '10', description: 'PostgreSQL connections per replica' },
  { name: 'MIXPANEL_TOKEN', default: '—', description: 'project token for engage updates (else the `Token` account setting of the mParticle message)' },
  { name: 'MIXPANEL_TARGET_SERVER', default: 'standard', description: '`standard` / `eu` / `india` (api / api-eu / api-in.mixpanel.com)' },
  { name: 'MIXPANEL_API_HOST', default: 'from the target server', description: 'explicit engage base URL, e.g. `http://127.0.0.1:4000` (a proxy or a local collector)' },
  { name: 'MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE', default: 'false', description: 'also write `In <Audience Name>` = true / false for each changed audience' },
  { name: 'MIXPANEL_USE_PEOPLE', default: 'true', description: 'must be true: `false` refuses the configuration' },
  { name: 'MPARTICLE_SHARED_SECRET', default: '—', description: 'required `X-Shim-Secret` header value on `POST /mparticle`' },
  { name: 'MIXPANEL_WEBHOOK_USER', default: '—', description: 'HTTP Basic user for `POST /mixpanel/cohorts`' },
  { name: 'MIXPANEL_WEBHOOK_PASSWORD', default: '—', description: 'HTTP Basic password for `POST /mixpanel/cohorts`' },
  { name: 'MPARTICLE_API_KEY', default: '—', description: 'Events API key (required for `/mixpanel/cohorts`)' },
  { name: 'MPARTICLE_API_SECRET', default: '—', description: 'Events API secret (required for `/mixpanel/cohorts`)' },
  { name: 'MPARTICLE_API_HOST', default: 'https://s2s.mparticle.com', description: 'Events API base URL (pod, e.g. `https://s2s.eu1.mparticle.com`)' },
  { name: 'MPARTICLE_ENVIRONMENT', default: 'production', description: '`environment` of the batches sent (`production` / `development`)' },
  { name: 'SHIM_ADMIN_TOKEN', default: '—', description: 'bearer token for `POST /admin/requeue`' },
  { name: 'SHIM_ALLOW_UNAUTHENTICATED', default: 'false', description: 'serve an endpoint whose secret is unset even when `HOST` is not loopback' },
  { name: 'SHIM_IDENTITY_ORDER', default: 'customer,ios_vendor_id,ios_advertising_id,android_id', description: 'mParticle identities tried, in order, for the Mixpanel distinct id' },
  { name: 'SHIM_COHORT_IDENTITY_ORDER', default: '$mparticle_user_id=mpid,mixpanel_distinct_id=customer_id,$distinct_id=customer_id', description: 'cohort member property = mParticle identity, tried in order (`$distinct_id` is what Mixpanel falls back to)' },
  { name: 'SHIM_MAX_BODY_BYTES', default: '5242880', description: 'largest accepted webhook body (bigger → 413)' },
  { name: 'SHIM_ENGAGE_BATCH_SIZE', default: '2000', description: 'engage updates per request (1–2000)' },
  { name: 'SHIM_BULK_BATCH_SIZE', default: '100', description: 'mParticle batches per bulk request (1–100)' },
  { name: 'SHIM_BATCH_LINGER_MS', default: '500', description: 'how long a partial batch waits for more updates before it is sent' },
  { name: 'SHIM_RETRY_BASE_MS', default: '1000', description: 'first retry delay (doubles each attempt, with jitter)' },
  { name: 'SHIM_RETRY_MAX_MS', default: '300000', description: 'longest retry delay (also of the pause after a 401/403/404)' },
  { name: 'SHIM_RETRY_AFTER_MAX_MS', default: '3600000', description: 'longest `Retry-After` honoured (shorter than 1 s counts as 1 s)' },
  { name: 'SHIM_MAX_ATTEMPTS', default: '0', description: 'attempts before an update is kept as failed (0 = retry forever)' },
  { name: 'SHIM_HTTP_TIMEOUT_MS', default: '30000', description: 'timeout of one outgoing request' },
  { name: 'SHIM_LEASE_MS', default: 'from SHIM_HTTP_TIMEOUT_MS + 60000', description: 'how long a sender holds a batch it claimed; a replica that dies loses its batches to the others after this (must exceed `SHIM_HTTP_TIMEOUT_MS`)' },
  { name: 'SHIM_SHUTDOWN_TIMEOUT_MS', default: '10000', description: 'SIGTERM: how long to keep draining before exiting' },
  { name: 'SHIM_SQLITE_SYNCHRONOUS', default: 'full', description: '`full`: fsync (an fdatasync of the WAL) before a webhook is acknowledged; `normal`: faster, survives a crash of the process but a power cut may lose the last commits' },
  { name: 'SHIM_SQLITE_WORKER', default: 'true', description: 'run SQLite in a worker thread, so commits (fsync) do not block request handling' },
  { name: 'SHIM_SQLITE_CHECKPOINT_THREAD', default: 'true', description: 'with the worker: copy the WAL into the database (checkpoints) from a thread of its own; `false`: inside commits, every 1,000 pages' },
  { name: 'SHIM_WARM_UP', default: 'true', description: 'before listening, run made-up webhooks and their engage deliveries through throw-away in-memory stores (in the SQLite thread and on the HTTP path, delivering to a loopback server of its own), so the first real ones do not wait for V8 to compile that code; nothing reaches `SHIM_DB` or a destination; the start log gives its milliseconds (`warmUpMs`)' },
  { name: 'SHIM_DEDUPE_RETENTION_HOURS', default: '168', description: 'how long delivered message ids are remembered to drop replays' },
  { name: 'SHIM_LOG_LEVEL', default: 'info', description: '`debug` / `info` / `warn` / `error` / `silent`' },
  { name: 'SHIM_TRACE', default: '—', description: 'diagnostics, off when unset: a file path; each thread appends JSON lines of timings (webhooks, store calls, commits, fdatasyncs, claims, GC pauses, event-loop stalls) to `<path>.<thread id>` (docs/shim.md, "Benchmark")' },
]

export type TargetServer = 'standard' | 'eu' | 'india'
export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

/** A cohort member property and the mParticle identity it maps to. */
export interface CohortIdentityRule {
  property: string
  /** `mpid` or an mParticle user identity key such as `customer_id`. */
  identity: string
}

/** The validated configuration the rest of the server trusts. */
export interface ShimConfig {
  port: number
  host: string
  dbPath: string
  /** `postgres://…`: PostgreSQL instead of SQLite (several replicas). */
  databaseUrl: string | undefined
  pgPoolSize: number
  /** How long a sender holds a claimed batch; longer than the longest request. */
  leaseMs: number
  mixpanel: {
    /** Unset when `MIXPANEL_TOKEN` is not given (the message may carry one). */
    token: string | undefined
    /** Set only when `MIXPANEL_TARGET_SERVER` was given explicitly. */
    targetServer: TargetServer | undefined
    apiHost: string | undefined
    oneAttributePerAudience: boolean | undefined
    usePeople: boolean | undefined
  }
  mparticle: {
    sharedSecret: string | undefined
    apiKey: string | undefined
    apiSecret: string | undefined
    apiHost: string
    environment: 'production' | 'development'
  }
  webhook: { user: string | undefined; password: string | undefined }
  /** Bearer token of `POST /admin/requeue`. */
  adminToken: string | undefined
  allowUnauthenticated: boolean
  identityOrder: string[]
  cohortIdentityOrder: CohortIdentityRule[]
  maxBodyBytes: number
  engageBatchSize: number
  bulkBatchSize: number
  lingerMs: number
  retryBaseMs: number
  retryMaxMs: number
  /** The longest `Retry-After` honoured. */
  retryAfterMaxMs: number
  maxAttempts: number
  httpTimeoutMs: number
  shutdownTimeoutMs: number
  sqliteSynchronous: 'full' | 'normal'
  sqliteWorker: boolean
  sqliteCheckpointThread: boolean
  /** Warm up the webhook path before listening (warm-up.ts). */
  warmUp: boolean
  dedupeRetentionHours: number
  logLevel: LogLevel
}

/** The default of a variable as the table gives it (`—` and `from …` mean none). */
export function defaultOf(name: string): string {
  const v = ENV_VARS.find((e) => e.name === name)
  if (v === undefined) throw new Error(`no variable ${name} in ENV_VARS`)
  return v.default
}

/** Thrown when the environment does not describe a usable configuration. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`)
    this.name = 'ConfigError'
  }
}

export const MIXPANEL_HOSTS: Record<TargetServer, string> = {
  standard: 'https://api.mixpanel.com',
  eu: 'https://api-eu.mixpanel.com',
  india: 'https://api-in.mixpanel.com',
}

const MP_IDENTITIES = ['customer', 'email', 'other', 'other2', 'other3', 'other4', 'facebook', 'twitter', 'google', 'microsoft', 'yahoo',
  'android_id', 'google_advertising_id', 'ios_advertising_id', 'ios_vendor_id', 'roku_advertising_id', 'fire_advertising_id',
  'microsoft_advertising_id', 'roku_publisher_id', 'microsoft_publisher_id']

/** `standard`/`us`, `eu`, `india`/`in`, also mParticle's display labels ("EU Residency Server"). */
export function parseTargetServer(raw: string): TargetServer | undefined {
  const v = raw.trim().toLowerCase()
  if (v === '' || v.startsWith('standard') || v === 'us' || v === 'default') return 'standard'
  if (v === 'eu' || v.startsWith('eu ') || v.startsWith('eu-') || v.startsWith('european')) return 'eu'
  if (v === 'india' || v === 'in' || v.startsWith('india')) return 'india'
  return undefined
}

/** `true`/`false` in any case, also `1`/`0` and `yes`/`no`. */
export function parseBoolean(raw: string): boolean | undefined {
  const v = raw.trim().toLowerCase()
  if (v === 'true' || v === '1' || v === 'yes') return true
  if (v === 'false' || v === '0' || v === 'no') return false
  return undefined
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost', '[::1]'])
export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.')
}

/**
 * Reads and validates the configuration. Every problem is collected and
 * reported at once, each naming its variable.
 */
export function loadConfig(env: Record<string, string | undefined>): ShimConfig {
  const problems: string[] = []
  // An empty value counts as unset, like most shells and .env loaders expect.
  const get = (name: string): string | undefined => {
    const v = env[name]
    return v === undefined || v.trim() === '' ? undefined : v.trim()
  }
  /** The value, or the default of the table above. */
  const value = (name: string): string => get(name) ?? defaultOf(name)
  const int = (name: string, min: number, max: number): number => {
    const def = Number(defaultOf(name))
    const raw = get(name)
    if (raw === undefined) return def
    if (!/^\d+$/.test(raw)) { problems.push(`\`${name}\` must be a whole number (got "${raw}")`); return def }
    const n = Number(raw)
    if (n < min || n > max) { problems.push(`\`${name}\` must be between ${min} and ${max} (got ${n})`); return def }
    return n
  }
  const bool = (name: string): boolean | undefined => {
    const raw = get(name)
    if (raw === undefined) return undefined
    const b = parseBoolean(raw)
    if (b === undefined) problems.push(`\`${name}\` must be true or false (got "${raw}")`)
    return b
  }
  const url = (name: string): string | undefined => {
    const raw = get(name)
    if (raw === undefined) return undefined
    try {
      const u = new URL(raw)
      if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http')
      return raw.replace(/\/+$/, '')
    } catch {
      problems.push(`\`${name}\` must be an http(s) URL (got "${raw}")`)
      return undefined
    }
  }

  const databaseUrl = get('DATABASE_URL')
  if (databaseUrl !== undefined && !/^postgres(ql)?:\/\/./i.test(databaseUrl)) {
    problems.push('`DATABASE_URL` must be a postgres:// URL (unset it to use the embedded SQLite store, `SHIM_DB`)')
  }

  const targetRaw = get('MIXPANEL_TARGET_SERVER')
  let targetServer: TargetServer | undefined
  if (targetRaw !== undefined) {
    targetServer = parseTargetServer(targetRaw)
    if (targetServer === undefined) problems.push(`\`MIXPANEL_TARGET_SERVER\` must be standard, eu or india (got "${targetRaw}")`)
  }

  const usePeople = bool('MIXPANEL_USE_PEOPLE')
  if (usePeople === false) {
    problems.push('`MIXPANEL_USE_PEOPLE` is false: the audience integration writes Mixpanel People properties and needs "Use Mixpanel People" enabled (set it to true or leave it unset)')
  }

  const envRaw = value('MPARTICLE_ENVIRONMENT')
  let environment: 'production' | 'development' = 'production'
  if (envRaw === 'production' || envRaw === 'development') environment = envRaw
  else problems.push(`\`MPARTICLE_ENVIRONMENT\` must be production or development (got "${envRaw}")`)

  const identityOrder = value('SHIM_IDENTITY_ORDER')
    .split(',').map((s) => s.trim()).filter((s) => s !== '')
  for (const id of identityOrder) {
    if (!MP_IDENTITIES.includes(id)) problems.push(`\`SHIM_IDENTITY_ORDER\` has an unknown mParticle identity "${id}" (known: ${MP_IDENTITIES.join(', ')})`)
  }
  if (identityOrder.length === 0) problems.push('`SHIM_IDENTITY_ORDER` must name at least one identity')

  const cohortIdentityOrder: CohortIdentityRule[] = []
  for (const part of value('SHIM_COHORT_IDENTITY_ORDER').split(',')) {
    const p = part.trim()
    if (p === '') continue
    const m = /^([^=\s]+)=([a-z0-9_]+)$/.exec(p)
    if (m === null || m[1] === undefined || m[2] === undefined) {
      problems.push(`\`SHIM_COHORT_IDENTITY_ORDER\` entries look like property=identity (got "${p}")`)
      continue
    }
    cohortIdentityOrder.push({ property: m[1], identity: m[2] })
  }
  if (cohortIdentityOrder.length === 0) problems.push('`SHIM_COHORT_IDENTITY_ORDER` must name at least one property=identity pair')

  const syncRaw = value('SHIM_SQLITE_SYNCHRONOUS').toLowerCase()
  let sqliteSynchronous: 'full' | 'normal' = 'full'
  if (syncRaw === 'full' || syncRaw === 'normal') sqliteSynchronous = syncRaw
  else problems.push(`\`SHIM_SQLITE_SYNCHRONOUS\` must be full or normal (got "${syncRaw}")`)

  const levelRaw = value('SHIM_LOG_LEVEL').toLowerCase()
  let logLevel: LogLevel = 'info'
  if (['debug', 'info', 'warn', 'error', 'silent'].includes(levelRaw)) logLevel = levelRaw as LogLevel
  else problems.push(`\`SHIM_LOG_LEVEL\` must be debug, info, warn, error or silent (got "${levelRaw}")`)

  const user = get('MIXPANEL_WEBHOOK_USER')
  const password = get('MIXPANEL_WEBHOOK_PASSWORD')
  if ((user === undefined) !== (password === undefined)) {
    problems.push('`MIXPANEL_WEBHOOK_USER` and `MIXPANEL_WEBHOOK_PASSWORD` must be set together')
  }
  const apiKey = get('MPARTICLE_API_KEY')
  const apiSecret = get('MPARTICLE_API_SECRET')
  if ((apiKey === undefined) !== (apiSecret === undefined)) {
    problems.push('`MPARTICLE_API_KEY` and `MPARTICLE_API_SECRET` must be set together')
  }

  const config: ShimConfig = {
    port: int('PORT', 0, 65535),
    host: value('HOST'),
    dbPath: value('SHIM_DB'),
    databaseUrl,
    pgPoolSize: int('SHIM_PG_POOL_SIZE', 1, 1000),
    // Unset: the HTTP timeout + 60 s, filled in below.
    leaseMs: get('SHIM_LEASE_MS') === undefined ? 0 : int('SHIM_LEASE_MS', 1000, 86_400_000),
    mixpanel: {
      token: get('MIXPANEL_TOKEN'),
      targetServer,
      apiHost: url('MIXPANEL_API_HOST'),
      oneAttributePerAudience: bool('MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE'),
      usePeople,
    },
    mparticle: {
      sharedSecret: get('MPARTICLE_SHARED_SECRET'),
      apiKey,
      apiSecret,
      apiHost: url('MPARTICLE_API_HOST') ?? defaultOf('MPARTICLE_API_HOST'),
      environment,
    },
    webhook: { user, password },
    adminToken: get('SHIM_ADMIN_TOKEN'),
    allowUnauthenticated: bool('SHIM_ALLOW_UNAUTHENTICATED') ?? defaultOf('SHIM_ALLOW_UNAUTHENTICATED') === 'true',
    identityOrder,
    cohortIdentityOrder,
    maxBodyBytes: int('SHIM_MAX_BODY_BYTES', 1024, 1024 * 1024 * 1024),
    engageBatchSize: int('SHIM_ENGAGE_BATCH_SIZE', 1, 2000),
    bulkBatchSize: int('SHIM_BULK_BATCH_SIZE', 1, 100),
    lingerMs: int('SHIM_BATCH_LINGER_MS', 0, 3_600_000),
    retryBaseMs: int('SHIM_RETRY_BASE_MS', 1, 3_600_000),
    retryMaxMs: int('SHIM_RETRY_MAX_MS', 1, 86_400_000),
    retryAfterMaxMs: int('SHIM_RETRY_AFTER_MAX_MS', 1000, 86_400_000),
    maxAttempts: int('SHIM_MAX_ATTEMPTS', 0, 1_000_000),
    httpTimeoutMs: int('SHIM_HTTP_TIMEOUT_MS', 1, 600_000),
    shutdownTimeoutMs: int('SHIM_SHUTDOWN_TIMEOUT_MS', 0, 600_000),
    sqliteSynchronous,
    sqliteWorker: bool('SHIM_SQLITE_WORKER') ?? defaultOf('SHIM_SQLITE_WORKER') === 'true',
    sqliteCheckpointThread: bool('SHIM_SQLITE_CHECKPOINT_THREAD') ?? defaultOf('SHIM_SQLITE_CHECKPOINT_THREAD') === 'true',
    warmUp: bool('SHIM_WARM_UP') ?? defaultOf('SHIM_WARM_UP') === 'true',
    dedupeRetentionHours: int('SHIM_DEDUPE_RETENTION_HOURS', 1, 24 * 365),
    logLevel,
  }
  if (config.retryMaxMs < config.retryBaseMs) problems.push('`SHIM_RETRY_MAX_MS` must not be smaller than `SHIM_RETRY_BASE_MS`')
  // A lease must outlive the longest request, so only a replica that is gone or stuck loses its batches.
  if (config.leaseMs === 0) config.leaseMs = config.httpTimeoutMs + 60_000
  else if (config.leaseMs <= config.httpTimeoutMs) problems.push(`\`SHIM_LEASE_MS\` (${config.leaseMs}) must be longer than \`SHIM_HTTP_TIMEOUT_MS\` (${config.httpTimeoutMs})`)

  if (problems.length > 0) throw new ConfigError(problems)
  return config
}

/** The text printed by `mixpanel-device-mode-shim --help`. */
export function helpText(): string {
  const width = Math.max(...ENV_VARS.map((v) => v.name.length))
  const lines = ENV_VARS.map((v) => `  ${v.name.padEnd(width)}  ${v.description} (default: ${v.default})`)
  return [
    'mixpanel-device-mode-shim: mParticle audiences → Mixpanel People, Mixpanel cohorts → mParticle.',
    '',
    'Usage: mixpanel-device-mode-shim [--help] [--version]',
    '       mixpanel-device-mode-shim requeue [--sink mixpanel|mparticle]   (send updates kept as failed again;',
    '         while the shim runs, use POST /admin/requeue instead)',
    '',
    'Endpoints: POST /mparticle, POST /mixpanel/cohorts, POST /admin/requeue, GET /healthz, GET /metrics',
    'Reference: docs/shim.md',
    '',
    'Configured by environment variables:',
    ...lines,
    '',
  ].join('\n')
}
