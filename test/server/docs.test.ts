import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ENV_VARS } from '../../src/server/config.js'

// The shim's operators' reference.
const doc = readFileSync(resolve(__dirname, '../../docs/shim.md'), 'utf8')

describe('docs/shim.md', () => {
  it('lists every environment variable with its default, as the code has them, and no other', () => {
    const rows = doc.split('\n').filter((l) => /^\| `[A-Z_]+` \|/.test(l))
    expect(rows).toEqual(ENV_VARS.map((v) => {
      const shown = v.default === '—' || v.default.startsWith('from ') ? v.default : `\`${v.default}\``
      return `| \`${v.name}\` | ${shown} | ${v.description} |`
    }))
  })

  it('documents every endpoint and metric family', () => {
    for (const s of ['POST /mparticle', 'POST /mixpanel/cohorts', 'POST /admin/requeue', 'GET /healthz', 'GET /metrics', 'shim_outbox_depth',
      'shim_outbox_oldest_pending_age_seconds', 'shim_updates_retried_total', 'shim_skipped_without_identity_total', 'shim_sink_paused',
      'shim_sink_consecutive_failures', 'requeue --sink']) {
      expect(doc).toContain(s)
    }
  })
})
