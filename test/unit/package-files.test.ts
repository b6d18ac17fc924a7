import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join, normalize, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { expect, test } from 'vitest'

// The README and docs/ are read on the registry page and in node_modules:
// every file they link to must be in the tarball, or the link breaks there.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))

/** The files `npm pack` would put in the tarball, relative to the package root. */
function packedFiles(): Set<string> {
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
  const out = execFileSync(npm, ['pack', '--dry-run', '--json', '--ignore-scripts'], { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  const [pack] = JSON.parse(out) as [{ files: { path: string }[] }]
  return new Set(pack.files.map((file) => file.path))
}

/** Relative link targets (Markdown links and images) of `file`, as paths from the package root. */
function linksOf(file: string): string[] {
  const text = readFileSync(join(ROOT, file), 'utf8')
  const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((m) => m[1]!.split('#')[0]!)
  return targets
    .filter((target) => target !== '' && !/^[a-z]+:/i.test(target))
    .map((target) => relative(ROOT, normalize(join(ROOT, dirname(file), target))))
}

const documents = ['README.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)]

test('the tarball holds the README, the docs, the license and the changelog', () => {
  const packed = packedFiles()
  for (const file of [...documents, 'LICENSE', 'CHANGELOG.md']) expect(packed, file).toContain(file)
})

test('every file the README and docs/ link to that exists in the repository is in the tarball', () => {
  const packed = packedFiles()
  const linked = [...new Set(documents.flatMap(linksOf))].filter((path) => existsSync(join(ROOT, path)))
  expect(linked.length).toBeGreaterThan(5)
  expect(linked.filter((path) => !packed.has(path))).toEqual([])
})
