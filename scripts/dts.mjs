// Declarations that resolve under every TypeScript moduleResolution
// (bundler, node16, nodenext), for both `import` and `require`:
// - the `.d.ts` files get explicit `.js` specifiers (node16/nodenext ESM
//   cannot resolve `./facade`; the consumer silently got `any`);
// - a `.d.cts` twin of each, with `.cjs` specifiers, types the CommonJS build
//   (a `.d.ts` in a `"type": "module"` package is ESM: require() of it is TS1479).
// A rollup plugin: it rewrites the declaration files plugin-typescript emits.
import { existsSync } from 'node:fs'
import { dirname, join } from 'node:path'

const SPECIFIER = /(\bfrom\s+|\bimport\s*\(\s*)(['"])(\.{1,2}\/[^'"]*)\2/g

/** `./facade` → `./facade.js`, `./translate` → `./translate/index.js` (as the source tree has it). */
function withExtension(specifier, fromFile, srcRoot, ext) {
  if (/\.(c|m)?js$/.test(specifier)) return specifier
  const base = join(srcRoot, dirname(fromFile), specifier)
  if (existsSync(base + '.ts')) return specifier + ext
  if (existsSync(join(base, 'index.ts'))) return specifier + '/index' + ext
  return specifier + ext
}

export function dualDeclarations({ srcRoot = 'src' } = {}) {
  return {
    name: 'dual-declarations',
    generateBundle(_options, bundle) {
      for (const [fileName, asset] of Object.entries(bundle)) {
        if (asset.type !== 'asset' || !fileName.endsWith('.d.ts')) continue
        const source = String(asset.source)
        const rewrite = (ext) =>
          source.replace(SPECIFIER, (_m, head, quote, spec) => head + quote + withExtension(spec, fileName, srcRoot, ext) + quote)
        asset.source = rewrite('.js')
        this.emitFile({ type: 'asset', fileName: fileName.replace(/\.d\.ts$/, '.d.cts'), source: rewrite('.cjs') })
      }
    },
  }
}
