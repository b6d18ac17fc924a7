#!/usr/bin/env node
// Byte budgets of every shipped artifact, checked by `npm test` after the build
// (nanoid / size-limit style). Prints the figures; exits 1 when a budget is
// exceeded or when the README's sizes block is stale. `--write` rewrites that
// block. Sizes are gzip level 9, 1 kB = 1000 bytes.
import { existsSync } from 'node:fs'
import { readFile, writeFile } from 'node:fs/promises'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { gzipSync } from 'node:zlib'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import { rollup } from 'rollup'
import { minify } from 'terser'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const at = (path) => ROOT + path
const KB = 1000

export const FILES = {
  esm: 'dist/index.js',
  iife: 'dist/mixpanel-device-mode.iife.js',
  official: 'node_modules/mixpanel-browser/dist/mixpanel.min.js',
  snippet: 'dist/snippet.min.js',
}

export const gzipSize = (code) => gzipSync(typeof code === 'string' ? Buffer.from(code) : code, { level: 9 }).length

/**
 * What `import { createAnalytics } from 'mixpanel-device-mode'` adds to an
 * app's bundle besides mixpanel-browser: the ESM entry tree-shaken to that one
 * export, minified as a production bundler would.
 */
export async function wrapperCode() {
  const entry = '\0size-entry'
  const bundle = await rollup({
    input: entry,
    external: (id) => id === 'mixpanel-browser' || id.startsWith('mixpanel-browser/'),
    plugins: [
      { name: 'size-entry', resolveId: (id) => (id === entry ? id : null), load: (id) => (id === entry ? `export { createAnalytics } from ${JSON.stringify(at(FILES.esm))}` : null) },
      nodeResolve({ browser: true }),
    ],
    onwarn: () => {},
  })
  const { output } = await bundle.generate({ format: 'es' })
  await bundle.close()
  const { code } = await minify(output[0].code, { module: true, ecma: 2020, compress: { passes: 2 }, format: { comments: false } })
  return code
}

/** Every figure, in bytes (`raw` minified, `gzip` gzipped). */
export async function measure() {
  const wrapper = await wrapperCode()
  const file = async (name) => {
    const buffer = await readFile(at(FILES[name]))
    return { raw: buffer.length, gzip: gzipSize(buffer) }
  }
  return {
    wrapper: { raw: Buffer.byteLength(wrapper), gzip: gzipSize(wrapper) },
    iife: await file('iife'),
    official: await file('official'),
    snippet: await file('snippet'),
  }
}

/** The budgets, in gzipped bytes; the IIFE's also depends on mixpanel's own build. */
export function budgets(sizes) {
  return {
    // Issue #6 asked for 3 kB; measured, that needs dropping features (settings
    // validation −0.5 kB, the mParticle bridge −0.4 kB, every message −0.7 kB
    // still leaves ~4.3 kB). This budget holds the line against growth.
    wrapper: 6 * KB,
    iife: Math.min(37 * KB, sizes.official.gzip + 3.5 * KB),
    snippet: 1 * KB,
  }
}

const kb = (bytes) => `${(bytes / KB).toFixed(1)} kB`

/** The README block between `<!-- sizes -->` and `<!-- /sizes -->`. */
export function readmeBlock(sizes) {
  const limit = budgets(sizes)
  return [
    '| artifact | gzipped | budget |',
    '|---|---:|---:|',
    `| \`createAnalytics\` from the npm package (ESM, minified, mixpanel-browser not counted) | ${kb(sizes.wrapper.gzip)} | ${kb(limit.wrapper)} |`,
    `| \`dist/mixpanel-device-mode.iife.js\` (script tag, mixpanel-browser included) | ${kb(sizes.iife.gzip)} | ${kb(limit.iife)} |`,
    `| mixpanel-browser's own \`mixpanel.min.js\`, for comparison | ${kb(sizes.official.gzip)} | |`,
    `| \`dist/snippet.min.js\` (optional inline loader) | ${kb(sizes.snippet.gzip)} | ${kb(limit.snippet)} |`,
  ].join('\n')
}

const BLOCK = /(<!-- sizes -->\n)([\s\S]*?)(\n?<!-- \/sizes -->)/

/** The README's sizes block as it stands, or null when there is none. */
export const readmeSizes = (readme) => readme.match(BLOCK)?.[2] ?? null

/** The README with its sizes block replaced by `block`. */
export const withSizes = (readme, block) => readme.replace(BLOCK, (_, open, _old, close) => `${open}${block}${close.startsWith('\n') ? close : `\n${close}`}`)

async function main(argv) {
  const write = argv.includes('--write')
  for (const name of ['esm', 'iife', 'snippet']) {
    if (!existsSync(at(FILES[name]))) {
      console.error(`size: ${FILES[name]} is missing; run \`npm run build\` first`)
      process.exit(1)
    }
  }
  const sizes = await measure()
  const limit = budgets(sizes)
  const failures = []
  const rows = [
    ['createAnalytics (ESM, no mixpanel)', sizes.wrapper, limit.wrapper],
    ['mixpanel-device-mode.iife.js', sizes.iife, limit.iife],
    ['mixpanel.min.js (mixpanel-browser)', sizes.official, undefined],
    ['snippet.min.js', sizes.snippet, limit.snippet],
  ]
  console.log(`${'artifact'.padEnd(38)}${'minified'.padStart(10)}${'gzipped'.padStart(10)}${'budget'.padStart(10)}`)
  for (const [name, size, budget] of rows) {
    const over = budget !== undefined && size.gzip > budget
    if (over) failures.push(`${name}: ${size.gzip} B gzipped, over its budget of ${budget} B by ${size.gzip - budget} B`)
    console.log(`${name.padEnd(38)}${String(size.raw).padStart(10)}${String(size.gzip).padStart(10)}${(budget === undefined ? '' : String(budget)).padStart(10)}${over ? '  OVER' : ''}`)
  }
  console.log(`IIFE budget: min(37 kB, mixpanel.min.js ${sizes.official.gzip} B + 3.5 kB) = ${limit.iife} B`)

  const readmePath = at('README.md')
  const readme = await readFile(readmePath, 'utf8').catch(() => null)
  const block = readmeBlock(sizes)
  if (readme === null || readmeSizes(readme) === null) {
    failures.push('README.md has no <!-- sizes --> … <!-- /sizes --> block to keep the sizes in')
  } else if (readmeSizes(readme) !== block) {
    if (write) {
      await writeFile(readmePath, withSizes(readme, block))
      console.log('README.md: sizes block rewritten')
    } else {
      failures.push('README.md: the sizes block does not match the measured sizes; run `node scripts/size.mjs --write`')
    }
  }

  if (failures.length > 0) {
    for (const failure of failures) console.error(`size: ${failure}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main(process.argv.slice(2))
