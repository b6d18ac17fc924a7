#!/usr/bin/env node
/**
 * `mixpanel-device-mode-shim`: starts the audience shim configured by
 * environment variables; `requeue` sends updates kept as failed again.
 * Only config.ts is imported up front, so `--help` works without the
 * optional peer packages; a missing one is named in one line.
 */
import { ConfigError, helpText, loadConfig } from './config.js'

const PEERS = ['hono', '@hono/node-server', 'better-sqlite3']

function fail(message: string, code = 1): never {
  process.stderr.write(`mixpanel-device-mode-shim: ${message}\n`)
  // At once: a worker thread or a timer must not keep a failed start alive (an orchestrator restarts on exit).
  process.exit(code)
}

/** One line for a missing optional peer, else the error's own message. */
function explain(err: unknown): string {
  const e = err as { code?: string; message?: string }
  if (e.code === 'ERR_MODULE_NOT_FOUND' || e.code === 'MODULE_NOT_FOUND') {
    const missing = PEERS.find((p) => (e.message ?? '').includes(`'${p}'`))
    if (missing !== undefined) {
      return `the shim needs the optional peer packages ${PEERS.join(', ')} ("${missing}" is missing): npm install ${PEERS.join(' ')}`
    }
  }
  return err instanceof ConfigError ? err.message : `cannot start: ${e.message ?? String(err)}`
}

async function requeue(args: string[]): Promise<void> {
  let sink: 'mixpanel' | 'mparticle' | undefined
  for (let i = 0; i < args.length; i++) {
    const a = args[i]
    const v = a === '--sink' ? args[++i] : a?.startsWith('--sink=') === true ? a.slice(7) : undefined
    if (v === 'mixpanel' || v === 'mparticle') sink = v
    else fail(`requeue: unknown argument "${a}${a === '--sink' ? ` ${v ?? ''}` : ''}" (usage: requeue [--sink mixpanel|mparticle])`, 2)
  }
  const config = loadConfig(process.env)
  const { openStore } = await import('./shim.js')
  let store
  try {
    store = await openStore(config)
  } catch (err) {
    fail(`requeue: ${(err as Error).message}. While the shim runs, use its endpoint instead: POST /admin/requeue`)
  }
  const n = await store.requeueFailed({ ...(sink !== undefined ? { sink } : {}), now: Date.now() })
  await store.close()
  process.stdout.write(`requeued ${n} failed update${n === 1 ? '' : 's'}${sink !== undefined ? ` of ${sink}` : ''}\n`)
}

async function main(argv: string[]): Promise<void> {
  const [first, ...rest] = argv
  if (first === '--help' || first === '-h') {
    process.stdout.write(helpText())
    return
  }
  if (first === '--version' || first === '-v') {
    const { shimVersion } = await import('./version.js')
    process.stdout.write(`${shimVersion()}\n`)
    return
  }
  if (first === 'requeue') return requeue(rest)
  if (first !== undefined) fail(`unknown argument "${first}"\n\n${helpText()}`, 2)

  let shim: { close(): Promise<void> } | undefined
  let stopping = false
  const shutdown = (signal: string): void => {
    // A second signal, or one during the start: stop now; unconfirmed updates stay in the outbox for the next start.
    if (stopping || shim === undefined) process.exit(130)
    stopping = true
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'shutting down', signal })}\n`)
    shim.close().then(() => process.exit(0), (err: Error) => fail(`shutdown failed: ${err.message}`))
  }
  // Before the start, so a signal right after "shim listening" is never the default (an abrupt exit).
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
  const { startShim } = await import('./shim.js')
  shim = await startShim()
}

main(process.argv.slice(2)).catch((err: unknown) => fail(explain(err)))
