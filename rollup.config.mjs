import commonjs from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import typescript from '@rollup/plugin-typescript'
import { dualDeclarations } from './scripts/dts.mjs'

const CORE_ESM = 'mixpanel-browser/src/loaders/loader-module-core'
// Node's require() cannot load the ESM source entry: CJS users get the CJS core.
const CORE_CJS = 'mixpanel-browser/dist/mixpanel-core.cjs.js'

// Measured with scripts/size.mjs: passes 2 and ES2020 output save a few dozen
// bytes; terser's `unsafe*` options save under 100 more and are not worth it.
export const TERSER = { ecma: 2020, compress: { passes: 2 }, format: { comments: false } }

// Said once per feature and page.
const MISSING =
  "if (!missing[feature]) console.error('[mixpanel-device-mode] the script-tag build leaves out mixpanel-browser\\'s ' + feature + ': use the npm package, or pass your own mixpanel-browser as deps.mixpanel'); missing[feature] = 1"

/**
 * Modules of mixpanel-browser's core that the script-tag build replaces with
 * inert stand-ins (README, "What the script-tag build leaves out"): they are 12 of its 41 kB gzipped,
 * none of them runs with the configuration this package gives mixpanel-browser
 * (autocapture, `track_pageview`, feature flags and session recording are off
 * by default), and with them gone `init()` no longer opens two IndexedDB
 * databases on every page load. A page that turns one on through
 * `mixpanelConfig` gets a console error instead of silence.
 */
export const IIFE_STUBS = {
  // Autocapture also implements the `track_pageview` option and heatmap clicks.
  'autocapture/index.js': `
    function missing(feature) { ${MISSING} }
    export function Autocapture(mp) { this.mp = mp }
    Autocapture.prototype.init = function () {
      var mp = this.mp
      if (mp.get_config('autocapture') || mp.get_config('track_pageview') || mp.get_config('record_heatmap_data')) missing('autocapture and track_pageview')
    }`,
  // With flags off the real manager still clears an IndexedDB store at init.
  'flags/index.js': `
    function missing(feature) { ${MISSING} }
    export function FeatureFlagManager(options) { this.config = options.getConfigFunc }
    FeatureFlagManager.prototype.init = function () { if (this.config('flags')) missing('feature flags') }
    FeatureFlagManager.prototype.fetchFlags = FeatureFlagManager.prototype.reset = function () { return Promise.resolve() }`,
  // The core entry cannot load the recorder anyway (it throws); the real manager
  // still opens the recording registry in IndexedDB at every init.
  'recorder-manager.js': `
    function missing(feature) { ${MISSING} }
    function done() { return Promise.resolve() }
    export function RecorderManager(options) { this.config = options.getConfigFunc }
    var p = RecorderManager.prototype
    p.checkAndStartSessionRecording = function (force) {
      if (force || this.config('record_sessions_percent') > 0) missing('session recording')
      return done()
    }
    p.startRecordingOnEvent = function (event) {
      var triggers = this.config('recording_event_triggers')
      if (triggers && triggers[event]) missing('session recording')
    }
    p.stopSessionRecording = p.pauseSessionRecording = p.resumeSessionRecording = done
    p.isRecordingHeatmapData = function () { return false }
    p.getSessionRecordingProperties = function () { return {} }
    p.getSessionReplayUrl = p.getRecorder = function () { return null }`,
}

/** Replaces the modules of IIFE_STUBS, only when imported from inside mixpanel-browser/src. */
export function mixpanelStubs() {
  const PREFIX = '\0mixpanel-stub:'
  return {
    name: 'mixpanel-stubs',
    async resolveId(source, importer, options) {
      if (!importer || !/[\\/]mixpanel-browser[\\/]src[\\/]/.test(importer)) return null
      const resolved = await this.resolve(source, importer, { ...options, skipSelf: true })
      if (!resolved) return null
      const path = resolved.id.replace(/\\/g, '/')
      const stub = Object.keys(IIFE_STUBS).find((name) => path.endsWith(`/mixpanel-browser/src/${name}`))
      return stub ? PREFIX + stub : null
    },
    load(id) {
      return id.startsWith(PREFIX) ? IIFE_STUBS[id.slice(PREFIX.length)] : null
    },
  }
}

export default [
  {
    input: 'src/index.ts',
    external: (id) => id === 'mixpanel-browser' || id.startsWith('mixpanel-browser/'),
    // dualDeclarations: types for import and require under every moduleResolution (scripts/dts.mjs).
    plugins: [typescript({ tsconfig: './tsconfig.json', declaration: true, declarationDir: 'dist', outDir: 'dist' }), dualDeclarations()],
    output: [
      // Debug sentences and the mParticle bridge are chunks loaded only when used.
      { dir: 'dist', format: 'es', entryFileNames: 'index.js', chunkFileNames: 'chunks/[name].js' },
      // Node and CommonJS bundlers do not pay per byte: one file.
      { dir: 'dist', format: 'cjs', entryFileNames: 'index.cjs', inlineDynamicImports: true, exports: 'named', paths: { [CORE_ESM]: CORE_CJS }, interop: 'auto' },
    ],
  },
  {
    input: 'src/iife.ts',
    plugins: [
      mixpanelStubs(),
      nodeResolve({ browser: true }),
      commonjs(),
      typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist' }),
    ],
    output: {
      file: 'dist/mixpanel-device-mode.iife.js',
      format: 'iife',
      name: 'MixpanelDeviceMode',
      inlineDynamicImports: true,
      generatedCode: 'es2015',
      plugins: [terser(TERSER)],
    },
  },
  {
    // The optional inline loader (src/snippet): pasted into pages, so every byte counts.
    input: 'src/snippet/snippet.ts',
    plugins: [typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist' })],
    output: {
      file: 'dist/snippet.min.js',
      format: 'iife',
      generatedCode: 'es2015',
      plugins: [terser({ ...TERSER, compress: { passes: 3 }, toplevel: true })],
    },
  },
]
