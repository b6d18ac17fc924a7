#!/usr/bin/env node
// `npm start`: builds when needed, then starts the demo site, the local
// Mixpanel-compatible collector and the audience shim, and prints their URLs.
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { DEFAULT_PORTS, shimCurl, startDemo } from './demo.mjs'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const OUTPUTS = ['dist/index.js', 'dist/mixpanel-device-mode.iife.js', 'dist/server/index.js']

function newest(dir) {
  let time = 0
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name)
    time = Math.max(time, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs)
  }
  return time
}

/** Why a build is needed, or null: an output is missing or older than the newest file in src/. */
function staleReason() {
  const source = newest(join(ROOT, 'src'))
  for (const file of OUTPUTS) {
    const path = join(ROOT, file)
    if (!existsSync(path)) return `${file} is missing`
    if (statSync(path).mtimeMs < source) return `${file} is older than src/`
  }
  return null
}

function port(name, fallback) {
  const raw = process.env[name]
  if (raw === undefined || raw === '') return fallback
  const value = Number(raw)
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    console.error(`${name}=${raw} is not a port number; using ${fallback}`)
    return fallback
  }
  return value
}

function describe(record) {
  const body = record.body
  const from = record.origin ? 'page' : 'shim'
  if (record.endpoint === 'track') return `${from} → /track  ${body.event}  (distinct_id ${body.properties?.distinct_id ?? '?'})`
  const op = Object.keys(body).find((key) => key.startsWith('$') && typeof body[key] === 'object' && body[key] !== null) ?? 'update'
  const target = record.endpoint === 'groups' ? `group ${body.$group_key}=${body.$group_id}` : `profile ${body.$distinct_id ?? '?'}`
  return `${from} → /${record.endpoint}  ${op} ${JSON.stringify(body[op] ?? {})}  (${target})`
}

async function main() {
  if (process.env.DEMO_SKIP_BUILD !== '1') {
    const reason = staleReason()
    if (reason) {
      console.log(`Building (${reason}): npm run build …`)
      const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm'
      const build = spawnSync(npm, ['run', 'build'], { cwd: ROOT, stdio: 'inherit' })
      if (build.status !== 0) {
        if (!existsSync(join(ROOT, 'dist/mixpanel-device-mode.iife.js'))) {
          console.error('The build failed and there is no dist/mixpanel-device-mode.iife.js to serve.')
          process.exit(1)
        }
        console.error('The build failed; serving the files already in dist/.')
      }
    }
  }

  const quiet = process.env.DEMO_QUIET === '1'
  let demo
  try {
    demo = await startDemo({
      ports: {
        demo: port('DEMO_PORT', DEFAULT_PORTS.demo),
        collector: port('COLLECTOR_PORT', DEFAULT_PORTS.collector),
        shim: port('SHIM_PORT', DEFAULT_PORTS.shim),
      },
      log: (line) => console.error(line),
      onRecord: quiet ? undefined : (record) => console.log(`  ${describe(record)}`),
    })
  } catch (error) {
    console.error(`The demo could not start: ${error?.message ?? error}`)
    process.exit(1)
  }

  const { config } = demo
  const lines = [
    '',
    'mixpanel-device-mode demo',
    '',
    `  Demo site        ${demo.demo.url}`,
    `                   ${config.mode === 'collector' ? `sends to the local collector (token ${config.token})` : config.mode === 'proxy' ? `sends to DEMO_API_HOST ${config.apiHost} (token ${config.token})` : `sends to real Mixpanel (token ${config.token})`}`,
    `  Collector        ${demo.collector.url}  (Mixpanel-compatible /track /engage /groups; records at ${demo.collector.url}/records)`,
    config.mparticle
      ? `  mParticle        the Web SDK runs on the page; its identity service is played by the demo site (${demo.demo.url}mparticle/identity/v1/), nothing goes to mParticle`
      : `  mParticle        unavailable: ${config.mparticleUnavailable}`,
  ]
  if (demo.shim) {
    lines.push(
      `  Audience shim    ${demo.shim.url}  (engage updates go to the collector, token demo-token)`,
      '',
      '  Try the shim: user-42 joins the mParticle audience 9001 "Power Users" (the demo\'s shim requires X-Shim-Secret: demo-secret):',
      '',
      shimCurl({ shimUrl: demo.shim.url, collectorUrl: demo.collector.url }),
    )
  } else {
    lines.push(`  Audience shim    unavailable: ${demo.shimUnavailable}`)
  }
  lines.push('', 'Open the demo site and click the numbered buttons in order; records the collector receives are printed below. Ctrl-C stops everything.', '')
  console.log(lines.join('\n'))

  let stopping = false
  const stop = (signal) => {
    if (stopping) {
      console.error('Stopping now.')
      process.exit(130)
    }
    stopping = true
    console.log(`\n${signal}: stopping the demo …`)
    demo.close().then(
      () => {
        console.log('Stopped.')
        process.exit(0)
      },
      (error) => {
        console.error(`Stopping failed: ${error?.message ?? error}`)
        process.exit(1)
      },
    )
  }
  process.on('SIGINT', () => stop('SIGINT'))
  process.on('SIGTERM', () => stop('SIGTERM'))
}

await main()
