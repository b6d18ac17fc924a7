import commonjs from '@rollup/plugin-commonjs'
import { nodeResolve } from '@rollup/plugin-node-resolve'
import terser from '@rollup/plugin-terser'
import typescript from '@rollup/plugin-typescript'

const CORE_ESM = 'mixpanel-browser/src/loaders/loader-module-core'
// Node's require() cannot load the ESM source entry: CJS users get the CJS core.
const CORE_CJS = 'mixpanel-browser/dist/mixpanel-core.cjs.js'

export default [
  {
    input: 'src/index.ts',
    external: (id) => id === 'mixpanel-browser' || id.startsWith('mixpanel-browser/'),
    plugins: [typescript({ tsconfig: './tsconfig.json', declaration: true, declarationDir: 'dist', outDir: 'dist' })],
    output: [
      { file: 'dist/index.js', format: 'es' },
      { file: 'dist/index.cjs', format: 'cjs', exports: 'named', paths: { [CORE_ESM]: CORE_CJS }, interop: 'auto' },
    ],
  },
  {
    input: 'src/iife.ts',
    plugins: [
      nodeResolve({ browser: true }),
      commonjs(),
      typescript({ tsconfig: './tsconfig.json', declaration: false, outDir: 'dist' }),
    ],
    output: {
      file: 'dist/mixpanel-device-mode.iife.js',
      format: 'iife',
      name: 'MixpanelDeviceMode',
      plugins: [terser({ format: { comments: false } })],
    },
  },
]
