#!/usr/bin/env node
/** `mixpanel-device-mode-shim`: starts the audience shim configured by environment variables. */
import { ConfigError, helpText } from './config.js'
import { shimVersion, startShim } from './shim.js'

async function main(argv: string[]): Promise<void> {
  for (const arg of argv) {
    if (arg === '--help' || arg === '-h') {
      process.stdout.write(helpText())
      return
    }
    if (arg === '--version' || arg === '-v') {
      process.stdout.write(`${shimVersion()}\n`)
      return
    }
    process.stderr.write(`unknown argument "${arg}"\n\n${helpText()}`)
    process.exitCode = 2
    return
  }

  let shim
  try {
    shim = await startShim()
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : `cannot start: ${(err as Error).message}`
    process.stderr.write(`mixpanel-device-mode-shim: ${message}\n`)
    process.exitCode = 1
    return
  }

  let stopping = false
  const shutdown = (signal: string): void => {
    if (stopping) {
      // A second signal: stop now; unconfirmed updates stay in the outbox for the next start.
      process.exit(130)
    }
    stopping = true
    process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'info', msg: 'shutting down', signal })}\n`)
    shim.close().then(() => process.exit(0), (err: Error) => {
      process.stderr.write(`shutdown failed: ${err.message}\n`)
      process.exit(1)
    })
  }
  process.on('SIGTERM', () => shutdown('SIGTERM'))
  process.on('SIGINT', () => shutdown('SIGINT'))
}

void main(process.argv.slice(2))
