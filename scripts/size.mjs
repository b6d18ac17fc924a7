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

/** Rollup of `createAnalytics` alone from `path` (tree-shaken), mixpanel-browser external. */
function bundleCreateAnalytics(path, plugin) {
  const entry = '\0size-entry'
  return rollup({
    input: entry,
    external: (id) => id === 'mixpanel-browser' || id.startsWith('mixpanel-browser/'),
    plugins: [
      { name: 'size-entry', resolveId: (id) => (id === entry ? id : null), load: (id) => (id === entry ? `export { createAnalytics } from ${JSON.stringify(at(path))}` : null) },
      plugin,
    ],
    onwarn: () => {},
  })
}

/**
 * What `import { createAnalytics } from 'mixpanel-device-mode'` adds to an
 * app's bundle besides mixpanel-browser: the ESM entry tree-shaken to that one
 * export, minified as a production bundler would. `entry` is what every page
 * loads; `chunks` are the modules it imports only when used (the debug
 * sentences with `debug: true`), by name.
 */
export async function wrapperCode() {
  const bundle = await bundleCreateAnalytics(FILES.esm, nodeResolve({ browser: true }))
  const { output } = await bundle.generate({ format: 'es', chunkFileNames: '[name].js' })
  // A bundler without code splitting puts the lazy chunks into the one file.
  const { output: [inlined] } = await bundle.generate({ format: 'es', inlineDynamicImports: true })
  await bundle.close()
  const min = async (code) => (await minify(code, { module: true, ecma: 2020, compress: { passes: 2 }, format: { comments: false } })).code
  const chunks = {}
  let main
  for (const chunk of output) {
    if (chunk.type !== 'chunk') continue
    if (chunk.isEntry) main = await min(chunk.code)
    else chunks[chunk.name] = await min(chunk.code)
  }
  return { entry: main, chunks, inlined: await min(inlined.code) }
}

/**
 * Where the entry's bytes come from: each source module's rendered code,
 * minified on its own (its top-level names kept), in bytes and as a share of
 * the sum. gzip is not additive, so the share is the guide, not the bytes.
 */
export async function moduleBreakdown() {
  const { default: typescript } = await import('@rollup/plugin-typescript')
  const bundle = await bundleCreateAnalytics('src/index.ts', typescript({ tsconfig: at('tsconfig.json'), declaration: false, outDir: at('dist'), noEmitOnError: false }))
  const { output } = await bundle.generate({ format: 'es' })
  await bundle.close()
  const rows = []
  for (const [id, module] of Object.entries(output.find((chunk) => chunk.isEntry).modules)) {
    if (!module.code) continue
    const { code } = await minify(module.code, { ecma: 2020, compress: { passes: 2 }, format: { comments: false } })
    rows.push({ module: id.startsWith(ROOT) ? id.slice(ROOT.length) : id, minified: Buffer.byteLength(code) })
  }
  const total = rows.reduce((sum, row) => sum + row.minified, 0)
  return rows.map((row) => ({ ...row, share: row.minified / total })).sort((a, b) => b.minified - a.minified)
}

/** Every figure, in bytes (`raw` minified, `gzip` gzipped). */
export async function measure() {
  const wrapper = await wrapperCode()
  const size = (code) => ({ raw: Buffer.byteLength(code), gzip: gzipSize(code) })
  const file = async (name) => {
    const buffer = await readFile(at(FILES[name]))
    return { raw: buffer.length, gzip: gzipSize(buffer) }
  }
  return {
    wrapper: size(wrapper.entry),
    inlined: size(wrapper.inlined),
    lazy: Object.fromEntries(Object.entries(wrapper.chunks).map(([name, code]) => [name, size(code)])),
    iife: await file('iife'),
    official: await file('official'),
    snippet: await file('snippet'),
  }
}

// The delivery queue's sender: batching, fetch, retries, keepalive, leases (docs/delivery.md).
const SENDER_BUDGET = 1.5 * KB

/** The budgets, in gzipped bytes (docs/performance.md). */
export function budgets() {
  return {
    // What every page loads with a splitting bundler. An earlier 3 kB target was
    // withdrawn: measured, it would drop specified behaviour (see `--modules`).
    // The delivery queue's durable half is in it (a record is stored before the
    // call resolves); its sender is a lazy chunk (docs/delivery.md). This
    // budget was the measured size (6,669 B) plus 31 B, of which loading the
    // sender chunk again after a failure took 17 B and keeping the special
    // trait names in a constant (not rebuilt per trait) 4 (6,690 B): it holds the line
    // against growth. The 6 kB target is not reached without dropping or
    // delaying specified behaviour (docs/performance.md, "Bytes").
    wrapper: 6.7 * KB,
    // Loaded only with `debug: true`, only on pages with mParticle, and right
    // after start on every page (the delivery queue's sender, docs/delivery.md).
    lazy: { messages: 1.1 * KB, bridge: 1 * KB, sender: SENDER_BUDGET },
    // Script tag, mixpanel-browser's core included, every feature of this package.
    iife: 25 * KB,
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
    `| … the same with its lazy chunks inlined (a bundler without code splitting) | ${kb(sizes.inlined.gzip)} | |`,
    `| … its lazy chunk of debug sentences (loaded only with \`debug: true\`) | ${kb(sizes.lazy.messages.gzip)} | ${kb(limit.lazy.messages)} |`,
    `| … its lazy chunk of the mParticle bridge (loaded only when mParticle is on the page) | ${kb(sizes.lazy.bridge.gzip)} | ${kb(limit.lazy.bridge)} |`,
    `| … its lazy chunk of the delivery queue's sender (loaded right after start) | ${kb(sizes.lazy.sender.gzip)} | ${kb(limit.lazy.sender)} |`,
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
  if (argv.includes('--modules')) {
    console.log(`${'module of the createAnalytics entry'.padEnd(40)}${'minified'.padStart(10)}${'share'.padStart(8)}`)
    for (const row of await moduleBreakdown()) console.log(`${row.module.padEnd(40)}${String(row.minified).padStart(10)}${`${(row.share * 100).toFixed(1)}%`.padStart(8)}`)
    return
  }
  for (const name of ['esm', 'iife', 'snippet']) {
    if (!existsSync(at(FILES[name]))) {
      console.error(`size: ${FILES[name]} is missing; run \`npm run build\` first`)
      process.exit(1)
    }
  }
  const sizes = await measure()
  const limit = budgets(sizes)
  const failures = []
  // Every chunk of the ESM build has a budget, and every budgeted chunk exists.
  const chunks = Object.keys(sizes.lazy).sort().join(', ')
  if (chunks !== Object.keys(limit.lazy).sort().join(', ')) {
    console.error(`size: the ESM build's lazy chunks are [${chunks}], the budgets know [${Object.keys(limit.lazy).sort().join(', ')}]`)
    process.exit(1)
  }
  const rows = [
    ['createAnalytics (ESM, no mixpanel)', sizes.wrapper, limit.wrapper],
    ['  with its lazy chunks inlined', sizes.inlined, undefined],
    ['  lazy chunk: debug sentences', sizes.lazy.messages, limit.lazy.messages],
    ['  lazy chunk: mParticle bridge', sizes.lazy.bridge, limit.lazy.bridge],
    ['  lazy chunk: delivery sender', sizes.lazy.sender, limit.lazy.sender],
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
