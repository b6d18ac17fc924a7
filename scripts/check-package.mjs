#!/usr/bin/env node
// Checks the package as it is published: `npm pack` once, then publint and
// Are The Types Wrong (@arethetypeswrong/cli) on that tarball, so types that
// resolve for `import` and `require` under bundler, node16 and nodenext stay
// so. Run after the build (`npm test` does). Exits non-zero on any problem.
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'mpdm-pack-'))
const bin = (name) => join(ROOT, 'node_modules', '.bin', name)
const run = (file, args) => execFileSync(file, args, { cwd: ROOT, stdio: ['ignore', 'inherit', 'inherit'] })
try {
  const [{ filename }] = JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', dir], { cwd: ROOT, encoding: 'utf8' }))
  const tarball = join(dir, filename)
  run(bin('publint'), ['run', tarball, '--strict'])
  // `./server` is Node-only and ESM-only by design (its bin and peers need Node 20+).
  run(bin('attw'), [tarball, '--exclude-entrypoints', './server', './iife', './snippet', './package.json'])
} catch (error) {
  process.exitCode = 1
  if (error.status === undefined) console.error(error)
} finally {
  rmSync(dir, { recursive: true, force: true })
}
