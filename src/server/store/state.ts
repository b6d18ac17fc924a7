/**
 * Addressing records in `LoadedState`, shared by the stores (which fill it)
 * and the flows (which read it). Pure.
 */
import type { LoadSpec, LoadedState, RecordKind, RecordRef, StoredRecord } from './types.js'

/** The map key of one record (NUL cannot occur in the JSON-decoded ids used as keys). */
export function recordId(ref: RecordRef): string {
  return `${ref.kind}\u0000${ref.scope}\u0000${ref.key}`
}

export function scopeId(kind: RecordKind, scope: string): string {
  return `${kind}\u0000${scope}`
}

export function emptyState(): LoadedState {
  return { records: new Map(), scans: new Map() }
}

/** What of `spec` is not in `state` yet. */
export function missing(state: LoadedState, spec: LoadSpec): LoadSpec {
  const get = (spec.get ?? []).filter((r) => !state.records.has(recordId(r)))
  const scan = (spec.scan ?? []).filter((s) => !state.scans.has(scopeId(s.kind, s.scope)))
  return { get, scan }
}

export function isEmptySpec(spec: LoadSpec): boolean {
  return (spec.get?.length ?? 0) === 0 && (spec.scan?.length ?? 0) === 0
}

/** Adds loaded records; records of a scanned scope also answer exact reads. */
export function addLoaded(state: LoadedState, gets: readonly [RecordRef, unknown][], scans: readonly [{ kind: RecordKind; scope: string }, StoredRecord[]][]): void {
  for (const [ref, value] of gets) state.records.set(recordId(ref), value ?? null)
  for (const [s, records] of scans) {
    state.scans.set(scopeId(s.kind, s.scope), records)
    for (const r of records) state.records.set(recordId(r), r.value)
  }
}

/** The flows' reader: a value, `null` when the record does not exist; throws when it was not loaded (a flow bug). */
export function read<T>(state: LoadedState, ref: RecordRef): T | null {
  const id = recordId(ref)
  if (!state.records.has(id)) throw new Error(`record ${ref.kind}/${ref.scope}/${ref.key} was not loaded`)
  return state.records.get(id) as T | null
}

export function has(state: LoadedState, ref: RecordRef): boolean {
  return state.records.has(recordId(ref))
}

export function scanned<T>(state: LoadedState, kind: RecordKind, scope: string): { key: string; value: T }[] | undefined {
  return state.scans.get(scopeId(kind, scope))?.map((r) => ({ key: r.key, value: r.value as T }))
}
