import commonjs from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import { rollup, type Plugin } from 'rollup'
import ts from 'typescript'

// TypeScript in the SPA sources: types stripped, nothing checked (the app is tiny).
function stripTypes(): Plugin {
  return {
    name: 'strip-types',
    transform(code, id) {
      if (!id.endsWith('.ts')) return null
      const out = ts.transpileModule(code, {
        compilerOptions: { target: ts.ScriptTarget.ES2020, module: ts.ModuleKind.ESNext, sourceMap: true },
        fileName: id,
      })
      return { code: out.outputText, map: out.sourceMapText ? JSON.parse(out.sourceMapText) : null }
    },
  }
}

/**
 * Bundles the SPA the way an application would: `main.ts` imports the built
 * ESM package (`dist/index.js`), which imports mixpanel-browser's core; the
 * result is ES modules in `dir` (main.js, iife-main.js and lazy-main.js, plus
 * shared chunks and the package's lazy chunks, messages.js and bridge.js).
 */
export async function bundleSpa(dir: string): Promise<void> {
  const here = new URL('.', import.meta.url)
  const build = await rollup({
    input: {
      main: new URL('main.ts', here).pathname,
      'iife-main': new URL('iife-main.ts', here).pathname,
      'lazy-main': new URL('lazy-main.ts', here).pathname,
    },
    plugins: [nodeResolve({ browser: true, extensions: ['.mjs', '.js', '.json', '.ts'] }), commonjs(), stripTypes()],
    onwarn(warning, warn) {
      if (warning.code !== 'CIRCULAR_DEPENDENCY') warn(warning)
    },
  })
  try {
    await build.write({ dir, format: 'es', entryFileNames: '[name].js', chunkFileNames: '[name].js' })
  } finally {
    await build.close()
  }
}
