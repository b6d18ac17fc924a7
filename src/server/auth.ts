/** Shared-secret and HTTP Basic checks in constant time. */
import { createHash, timingSafeEqual } from 'node:crypto'
import { isLoopbackHost, type ShimConfig } from './config.js'

/**
 * Compares SHA-256 digests, so neither the content nor the length of the
 * expected secret leaks through timing.
 */
export function safeEqual(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest()
  const b = createHash('sha256').update(expected, 'utf8').digest()
  return timingSafeEqual(a, b)
}

/** Checks an `Authorization: Basic …` header; both parts are always compared. */
export function checkBasic(header: string | undefined, user: string, password: string): boolean {
  let givenUser = ''
  let givenPassword = ''
  let wellFormed = false
  if (header !== undefined && /^basic\s+/i.test(header)) {
    const decoded = Buffer.from(header.replace(/^basic\s+/i, '').trim(), 'base64').toString('utf8')
    const i = decoded.indexOf(':')
    if (i >= 0) {
      givenUser = decoded.slice(0, i)
      givenPassword = decoded.slice(i + 1)
      wellFormed = true
    }
  }
  const userOk = safeEqual(givenUser, user)
  const passwordOk = safeEqual(givenPassword, password)
  return wellFormed && userOk && passwordOk
}

/** Checks an `Authorization: Bearer …` header in constant time. */
export function checkBearer(header: string | undefined, token: string): boolean {
  const m = header === undefined ? null : /^bearer\s+(.+)$/i.exec(header.trim())
  const ok = safeEqual(m?.[1] ?? '', token)
  return m !== null && ok
}

export type EndpointAuth =
  | { mode: 'secret' }
  | { mode: 'open'; why: string }
  | { mode: 'disabled'; why: string }

/**
 * An endpoint without a configured secret is served only when the shim
 * listens on loopback (the demo) or `SHIM_ALLOW_UNAUTHENTICATED=true`.
 */
export function endpointAuth(config: ShimConfig, configured: boolean, variables: string): EndpointAuth {
  if (configured) return { mode: 'secret' }
  if (config.allowUnauthenticated) return { mode: 'open', why: 'SHIM_ALLOW_UNAUTHENTICATED=true' }
  if (isLoopbackHost(config.host)) return { mode: 'open', why: `${variables} not set and HOST=${config.host} is loopback` }
  return {
    mode: 'disabled',
    why: `endpoint disabled: ${variables} not set and HOST=${config.host} is not loopback; set ${variables} (or SHIM_ALLOW_UNAUTHENTICATED=true)`,
  }
}
