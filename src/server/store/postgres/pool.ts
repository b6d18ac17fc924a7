/**
 * The connection pool shared by the PostgreSQL state store and outbox.
 * `pg` is an optional peer dependency: it is loaded only when
 * `DATABASE_URL` selects PostgreSQL, so SQLite users need not install it.
 */
import type { Pool, PoolConfig } from 'pg'

export interface PoolOptions {
  /** `postgres://user:password@host:port/database` (`?sslmode=…` and the other libpq URL parameters `pg` reads apply). */
  url: string
  /** Connections per replica (`SHIM_PG_POOL_SIZE`). */
  size: number
  /** Called for errors of idle connections (the server restarted, a network cut); the pool replaces them. */
  onIdleError?: (err: Error) => void
}

const INT8_OID = 20

/** `postgres://user:***@host/db`: the URL as it may be logged. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password !== '') u.password = '***'
    return u.toString()
  } catch {
    return '(unparsable DATABASE_URL)'
  }
}

export async function createPool(opts: PoolOptions): Promise<Pool> {
  let pg: typeof import('pg').default
  try {
    pg = (await import('pg')).default
  } catch {
    throw new Error('DATABASE_URL selects PostgreSQL, which needs the `pg` package: npm install pg')
  }
  const config: PoolConfig = {
    connectionString: opts.url,
    max: opts.size,
    connectionTimeoutMillis: 10_000,
    idleTimeoutMillis: 30_000,
    // Times and ids are bigint columns well below 2^53: read them as numbers, for this pool only.
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === INT8_OID && format !== 'binary' ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format as 'text')) as never,
    },
  }
  const pool = new pg.Pool(config)
  // Without a listener an idle connection's error would crash the process.
  pool.on('error', (err) => opts.onIdleError?.(err))
  return pool
}
