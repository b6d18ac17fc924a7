import { describe, expect, it } from 'vitest'
import { ConfigError, ENV_VARS, helpText, loadConfig } from '../../src/server/config.js'
import { withoutCredentials } from '../../src/server/shim.js'
import { renderBatch } from '../../src/server/destinations/mparticle-events/index.js'
import { segmentMembership } from '../../src/server/destinations/mixpanel-engage/index.js'
import { resolveCohortIdentity } from '../../src/server/flows/cohort-webhook.js'
import { resolveAudienceSettings, resolveDistinctId } from '../../src/server/flows/firehose.js'
import { parseMpid } from '../../src/server/mpid.js'

const problems = (env: Record<string, string>): string[] => {
  try {
    loadConfig(env)
    return []
  } catch (err) {
    return (err as ConfigError).problems
  }
}

describe('configuration', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({})
    expect(c.port).toBe(8787)
    expect(c.host).toBe('127.0.0.1')
    expect(c.dbPath).toBe('./shim.sqlite')
    expect(c.mparticle.apiHost).toBe('https://s2s.mparticle.com')
    expect(c.mparticle.environment).toBe('production')
    expect(c.engageBatchSize).toBe(2000)
    expect(c.bulkBatchSize).toBe(100)
    expect(c.identityOrder).toEqual(['customer', 'ios_vendor_id', 'ios_advertising_id', 'android_id'])
  })

  it('runs SQLite checkpoints from their own thread unless SHIM_SQLITE_CHECKPOINT_THREAD=false', () => {
    expect(loadConfig({}).sqliteCheckpointThread).toBe(true)
    expect(loadConfig({ SHIM_SQLITE_CHECKPOINT_THREAD: 'false' }).sqliteCheckpointThread).toBe(false)
  })

  it('selects PostgreSQL with DATABASE_URL, with a pool size and a lease that outlives the HTTP timeout', () => {
    expect(loadConfig({ DATABASE_URL: 'postgres://u:p@db/shim' })).toMatchObject({ databaseUrl: 'postgres://u:p@db/shim', pgPoolSize: 10, leaseMs: 90_000 })
    expect(loadConfig({ DATABASE_URL: 'postgresql://db/shim', SHIM_PG_POOL_SIZE: '3', SHIM_HTTP_TIMEOUT_MS: '1000', SHIM_LEASE_MS: '3000' }))
      .toMatchObject({ pgPoolSize: 3, leaseMs: 3000 })
    expect(loadConfig({ SHIM_HTTP_TIMEOUT_MS: '5000' }).leaseMs).toBe(65_000)
    expect(problems({ DATABASE_URL: 'mysql://db/shim', SHIM_PG_POOL_SIZE: '0', SHIM_LEASE_MS: '30000' })).toEqual([
      '`DATABASE_URL` must be a postgres:// URL (unset it to use the embedded SQLite store, `SHIM_DB`)',
      '`SHIM_PG_POOL_SIZE` must be between 1 and 1000 (got 0)',
      '`SHIM_LEASE_MS` (30000) must be longer than `SHIM_HTTP_TIMEOUT_MS` (30000)',
    ])
  })

  it('refuses MIXPANEL_USE_PEOPLE=false', () => {
    expect(problems({ MIXPANEL_USE_PEOPLE: 'false' })[0]).toMatch(/`MIXPANEL_USE_PEOPLE` is false: .*Use Mixpanel People/)
  })

  it('names every bad variable at once', () => {
    expect(problems({
      PORT: 'eighty', MIXPANEL_TARGET_SERVER: 'moon', MIXPANEL_API_HOST: 'ftp://x', SHIM_ENGAGE_BATCH_SIZE: '5000',
      MIXPANEL_WEBHOOK_USER: 'u', SHIM_IDENTITY_ORDER: 'customer,shoe_size',
    })).toEqual([
      '`MIXPANEL_TARGET_SERVER` must be standard, eu or india (got "moon")',
      '`SHIM_IDENTITY_ORDER` has an unknown mParticle identity "shoe_size" (known: customer, email, other, other2, other3, other4, facebook, twitter, google, microsoft, yahoo, android_id, google_advertising_id, ios_advertising_id, ios_vendor_id, roku_advertising_id, fire_advertising_id, microsoft_advertising_id, roku_publisher_id, microsoft_publisher_id)',
      '`MIXPANEL_WEBHOOK_USER` and `MIXPANEL_WEBHOOK_PASSWORD` must be set together',
      '`PORT` must be a whole number (got "eighty")',
      '`MIXPANEL_API_HOST` must be an http(s) URL (got "ftp://x")',
      '`SHIM_ENGAGE_BATCH_SIZE` must be between 1 and 2000 (got 5000)',
    ])
  })

  it('logs API hosts without credentials', () => {
    expect(withoutCredentials('https://user:s3cret@proxy.example/mp')).toBe('https://***@proxy.example/mp')
    expect(withoutCredentials('http://127.0.0.1:4000')).toBe('http://127.0.0.1:4000')
  })

  it('documents every variable in --help', () => {
    const text = helpText()
    for (const v of ENV_VARS) expect(text).toContain(v.name)
    for (const name of ['PORT', 'SHIM_DB', 'MIXPANEL_TOKEN', 'MIXPANEL_TARGET_SERVER', 'MIXPANEL_API_HOST', 'MIXPANEL_ONE_ATTRIBUTE_PER_AUDIENCE',
      'MIXPANEL_USE_PEOPLE', 'MPARTICLE_SHARED_SECRET', 'MIXPANEL_WEBHOOK_USER', 'MIXPANEL_WEBHOOK_PASSWORD', 'MPARTICLE_API_KEY',
      'MPARTICLE_API_SECRET', 'MPARTICLE_API_HOST', 'MPARTICLE_ENVIRONMENT']) {
      expect(ENV_VARS.map((v) => v.name)).toContain(name)
    }
  })
})

describe('mParticle → Mixpanel logic', () => {
  it('formats SegmentMembership as quoted ids, comma-separated, ascending', () => {
    expect(segmentMembership([11036, 11034])).toBe("'11034','11036'")
    expect(segmentMembership([])).toBe('')
    expect(segmentMembership([100, 20, 3])).toBe("'3','20','100'")
  })

  it('chooses the API host from the target server unless MIXPANEL_API_HOST is set', () => {
    const c = loadConfig({ MIXPANEL_TOKEN: 't' })
    expect(resolveAudienceSettings(c, {}, true).apiBase).toBe('https://api.mixpanel.com')
    expect(resolveAudienceSettings(c, { 'Mixpanel Target Server': 'EU Residency Server' }, true).apiBase).toBe('https://api-eu.mixpanel.com')
    expect(resolveAudienceSettings(c, { mixpanelTargetServer: 'india' }, true).apiBase).toBe('https://api-in.mixpanel.com')
    const eu = loadConfig({ MIXPANEL_TOKEN: 't', MIXPANEL_TARGET_SERVER: 'eu' })
    expect(resolveAudienceSettings(eu, { 'Mixpanel Target Server': 'india' }, true).apiBase).toBe('https://api-eu.mixpanel.com')
    const explicit = loadConfig({ MIXPANEL_TOKEN: 't', MIXPANEL_TARGET_SERVER: 'india', MIXPANEL_API_HOST: 'http://127.0.0.1:4000/' })
    expect(resolveAudienceSettings(explicit, {}, true).apiBase).toBe('http://127.0.0.1:4000')
  })

  it('uses only raw identities for the distinct id', () => {
    expect(resolveDistinctId([
      { type: 'customer', encoding: 'sha256', value: 'hash' },
      { type: 'ios_vendor_id', encoding: 'raw', value: 'idfv' },
    ], ['customer', 'ios_vendor_id'])).toBe('idfv')
    expect(resolveDistinctId([{ type: 'customer', encoding: undefined, value: 'c' }], ['customer'])).toBe('c')
    expect(resolveDistinctId([{ type: 'email', encoding: 'raw', value: 'a@b.co' }], ['customer'])).toBeUndefined()
  })
})

describe('Mixpanel → mParticle logic', () => {
  it('accepts 64-bit MPIDs exactly and nothing else, one spelling per user', () => {
    expect(parseMpid('007')).toBe('7')
    expect(parseMpid(7)).toBe('7')
    expect(parseMpid('-9223372036854775808')).toBe('-9223372036854775808')
    expect(parseMpid('9223372036854775807')).toBe('9223372036854775807')
    expect(parseMpid('9223372036854775808')).toBeUndefined()
    expect(parseMpid(42)).toBe('42')
    expect(parseMpid(0)).toBeUndefined()
    expect(parseMpid('12a')).toBeUndefined()
    expect(parseMpid(1.5)).toBeUndefined()
  })

  it('renders a batch with the MPID as a number literal', () => {
    expect(renderBatch({ type: 'mpid', value: '9223372036854775807' }, { 'Cohort A': true }, 'production'))
      .toBe('{"environment":"production","mpid":9223372036854775807,"user_attributes":{"Cohort A":true},"schema_version":2}')
  })

  it('falls back along the configured identity order', () => {
    const rules = loadConfig({}).cohortIdentityOrder
    expect(resolveCohortIdentity({ $mparticle_user_id: '77', mixpanel_distinct_id: 'd' }, rules)).toEqual({ type: 'mpid', value: '77' })
    expect(resolveCohortIdentity({ $mparticle_user_id: '', mixpanel_distinct_id: 'd' }, rules)).toEqual({ type: 'customer_id', value: 'd' })
    expect(resolveCohortIdentity({ mixpanel_distinct_id: '' }, rules)).toBeUndefined()
  })
})
