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
// `wrap_iife`: the script-tag build is `var MixpanelDeviceMode=(function(e){…})({})`;
// without the parentheses V8 first pre-parses the whole bundle as a lazy
// function, then parses it again when it is called: 3–4 ms more evaluation
// per page load here (docs/performance.md, "Start-up").
export const TERSER = { ecma: 2020, compress: { passes: 2 }, format: { comments: false, wrap_iife: true } }

// Said once per feature and page.
const MISSING =
  "if (!missing[feature]) console.error('[mixpanel-device-mode] the script-tag build leaves out mixpanel-browser\\'s ' + feature + ': use the npm package, or pass your own mixpanel-browser as deps.mixpanel'); missing[feature] = 1"

/**
 * Modules of mixpanel-browser's core that the script-tag build replaces with
 * inert stand-ins (docs/performance.md, "What the script-tag build leaves out"): they are 12 of its 41 kB gzipped,
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

// What the script-tag build never needs, also out (docs/performance.md, "What the
// script-tag build leaves out"): every browser mixpanel-browser supports has Promise and JSON.
Object.assign(IIFE_STUBS, {
  // `mixpanel.track_links()` / `track_forms()` (and their selector engine, removed in
  // IIFE_EDITS): DOM tracking this package's calls never use.
  'dom-trackers.js': `
    function missing(feature) { ${MISSING} }
    export function LinkTracker() {}
    LinkTracker.prototype.init = function () { return this }
    LinkTracker.prototype.track = function () { missing('track_links and track_forms'); return false }
    export var FormTracker = LinkTracker`,
  // mixpanel-browser's batch queue (with its localStorage queue and shared
  // lock): batching is always off, the delivery queue sends instead
  // (docs/delivery.md), so the batcher is never built.
  'request-batcher.js': `
    function missing(feature) { ${MISSING} }
    export function RequestBatcher() { missing('request batching (the delivery queue sends instead)') }`,
  // The native Promise instead of the polyfill.
  'promise-polyfill.js': `
    var NativePromise = Promise
    export { NativePromise as Promise, NativePromise as NpoPromise }`,
})

/**
 * Source edits to mixpanel-browser's own modules in the script-tag build, each
 * replacing one named piece of code. The build fails when a piece is not
 * found (a mixpanel-browser upgrade changed it), so nothing drifts silently.
 */
export const IIFE_EDITS = [
  {
    file: 'utils.js',
    what: 'the JSON encoder for browsers without JSON',
    from: /_\.JSONEncode = \(function\(\) \{[\s\S]*?\n\}\)\(\);\n/,
    to: '_.JSONEncode = function(value) { return JSON.stringify(value); };\n',
  },
  {
    file: 'utils.js',
    what: 'the JSON parser for browsers without JSON',
    from: /_\.JSONDecode = \(function\(\) \{[\s\S]*?\n\}\)\(\);\n/,
    // Throws on what is not a string, as the original does (text.charAt): a missing
    // cookie must not parse as `null` → `{}`, which would wipe the state on every
    // load where the cookie cannot be stored (WebKit refusing a Secure cookie on http).
    to: "_.JSONDecode = function(text) { if (typeof text != 'string') throw new TypeError('not JSON text'); return JSON.parse(text); };\n",
  },
  {
    file: 'utils.js',
    // Used only with `api_payload_format: 'base64'`. The replacement encodes UTF-8
    // (the original writes characters outside the BMP as CESU-8, which strict
    // decoders garble); lone surrogates become U+FFFD, as TextEncoder does.
    what: 'the base64 and UTF-8 encoders',
    from: /_\.base64Encode = function\(data\) \{[\s\S]*?\n\};\n\n_\.utf8Encode = function\(string\) \{[\s\S]*?\n\};\n/,
    to: `_.base64Encode = function(data) {
    if (!data) { return data; }
    var bytes = new TextEncoder().encode(data), binary = '';
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary);
};
`,
  },
  {
    file: 'utils.js',
    what: "the CSS selector engine of track_links / track_forms",
    from: /var TOKEN_MATCH_REGEX = [^\n]*\n\n_\.dom_query = \(function\(\) \{[\s\S]*?\n\}\)\(\);\n/,
    to: '',
  },
  {
    file: 'utils.js',
    // Left in use: the page-load fallback. Every supported browser has
    // addEventListener, and the page's own `window.onload` is no longer wrapped.
    what: "the event helper's emulation for browsers without addEventListener",
    from: /_\.register_event = \(function\(\) \{[\s\S]*?\n\}\)\(\);\n/,
    to: `_.register_event = function(element, type, handler, oldSchool, useCapture) {
    element.addEventListener(type, handler, !!useCapture);
};
`,
  },
  {
    file: 'mixpanel-core.js',
    // The tab id only tells session recordings apart; without it no sessionStorage
    // entries are written at start-up and `get_tab_id()` returns null.
    what: 'the tab id of session recordings',
    from: /MixpanelLib\.prototype\._init_tab_id = function\(\) \{[\s\S]*?\n\};\n/,
    to: 'MixpanelLib.prototype._init_tab_id = function() {};\n',
  },
  {
    file: 'utils.js',
    what: 'the sessionStorage wrapper (used only by the tab id)',
    from: /_\.sessionStorage = _storageWrapper\(getSessionStorage\(\), 'sessionStorage', sessionStorageSupported\);\n/,
    to: '',
  },
  {
    file: 'mixpanel-core.js',
    // Read only by the session recorder (its stand-in treats a missing value as off).
    what: "the session recorder's default settings",
    from: /    'record_allowed_iframe_origins':[\s\S]*?    'lib_base_path':[^\n]*\n/,
    to: '',
  },
  {
    file: 'mixpanel-core.js',
    what: "Internet Explorer's page-load detection",
    from: /    \} else if \(document\.attachEvent\) \{\n        \/\/ IE[\s\S]*?do_scroll_check\(\);\n        \}\n    \}\n/,
    to: '    }\n',
  },
  {
    file: 'mixpanel-core.js',
    // Remote settings only configure session recording, which the script-tag build leaves out.
    what: 'the remote settings request',
    from: /MixpanelLib\.prototype\._fetch_remote_settings = function\(mode\) \{[\s\S]*?\n\};\n/,
    to: `MixpanelLib.prototype._fetch_remote_settings = function(mode) {
    // window.console: mixpanel-browser's own console says nothing without debug
    window.console.error('[mixpanel-device-mode] the script-tag build leaves out mixpanel-browser\\'s remote settings (remote_settings_mode ' + mode + '): use the npm package, or pass your own mixpanel-browser as deps.mixpanel');
    if (mode === 'strict') {
        this.set_config({'record_sessions_percent': 0});
        this._remote_settings_strict_disabled = true;
    }
    return Promise.resolve();
};
`,
  },
]

// Lines like `MixpanelLib.prototype['track'] = MixpanelLib.prototype.track;` keep
// names through Closure Compiler's renaming; after rollup and terser, which keep
// property names, they assign each property to itself: no-ops (470 B gzipped).
const SELF_ASSIGNMENT = /^([\w.]+)((?:\['\w+'\])+)\s*=\s*([\w.]+);\n/gm
const ALIASED = ['mixpanel-core.js', 'mixpanel-people.js', 'mixpanel-group.js', 'utils.js']

/** Applies IIFE_EDITS to mixpanel-browser's modules; fails the build when one no longer applies. */
export function mixpanelEdits() {
  return {
    name: 'mixpanel-edits',
    transform(code, id) {
      const path = id.replace(/\\/g, '/')
      const file = path.match(/\/mixpanel-browser\/src\/(.*)$/)?.[1]
      if (!file) return null
      const edits = IIFE_EDITS.filter((edit) => edit.file === file)
      for (const edit of edits) {
        if (!edit.from.test(code)) this.error(`mixpanel-browser/src/${edit.file} no longer contains ${edit.what}: update IIFE_EDITS in rollup.config.mjs`)
        code = code.replace(edit.from, edit.to)
      }
      if (ALIASED.includes(file)) {
        let removed = 0
        code = code.replace(SELF_ASSIGNMENT, (line, object, keys, value) => {
          const same = object + keys.replace(/\['(\w+)'\]/g, '.$1') === value
          removed += same ? 1 : 0
          return same ? '' : line
        })
        if (removed === 0) this.error(`mixpanel-browser/src/${file} no longer has Closure Compiler export aliases: update ALIASED in rollup.config.mjs`)
      }
      return edits.length > 0 || ALIASED.includes(file) ? { code, map: null } : null
    },
  }
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
      mixpanelEdits(),
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
      // Chromium's explicit compile hint (Chrome 136+), the script's first line: a page loading this file with
      // <script src> has every function compiled eagerly on the background thread that streams it, instead of each
      // on the main thread when first called. Measured (docs/performance.md, "Start-up"): 8–11 ms less main-thread
      // CPU per load by <script src>, no change when the file is inlined. A `preamble`: terser drops comments.
      plugins: [terser({ ...TERSER, format: { ...TERSER.format, preamble: '//# allFunctionsCalledOnLoad' } })],
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
