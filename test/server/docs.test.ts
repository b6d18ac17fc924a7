import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ENV_VARS } from '../../src/server/config.js'

// The shim's reference lives in the README's "Server shim" section.
const doc = readFileSync(resolve(__dirname, '../../README.md'), 'utf8')

describe('README.md, Server shim section', () => {
  it('lists every environment variable with its default, as the code has them', () => {
    for (const v of ENV_VARS) {
      const shown = v.default === '—' || v.default.startsWith('from ') ? v.default : `\`${v.default}\``
      expect(doc).toContain(`| \`${v.name}\` | ${shown} | ${v.description} |`)
    }
  })

  it('documents every endpoint and metric family', () => {
    for (const s of ['POST /mparticle', 'POST /mixpanel/cohorts', 'GET /healthz', 'GET /metrics', 'shim_outbox_depth', 'shim_outbox_oldest_pending_age_seconds',
      'shim_updates_retried_total', 'shim_skipped_without_identity_total']) {
      expect(doc).toContain(s)
    }
  })
})
