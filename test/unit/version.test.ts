import { readFileSync } from 'node:fs'
import { expect, test } from 'vitest'
import { version } from '../../src/version'

test('version in src/version.ts equals the version in package.json', () => {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }
  expect(version).toBe(pkg.version)
})
