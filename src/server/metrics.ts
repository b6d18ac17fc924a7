/** Counters kept in memory (reset on restart, as Prometheus expects) and rendered as Prometheus text. */

import type { OutboxGauge, SinkState } from './store/types.js'

interface CounterDef { help: string; labels: string[] }

const COUNTERS = {
  shim_webhooks_received_total: { help: 'Webhook requests received, by endpoint.', labels: ['endpoint'] },
  shim_webhooks_rejected_total: { help: 'Webhook requests refused (4xx/5xx), by endpoint and HTTP status.', labels: ['endpoint', 'status'] },
  shim_webhooks_duplicate_total: { help: 'Webhook deliveries recognised as replays and ignored.', labels: ['endpoint'] },
  shim_changes_applied_total: { help: 'Membership changes that changed stored state.', labels: ['direction'] },
  shim_changes_stale_total: { help: 'Membership changes older than the stored state (out of order) and ignored.', labels: ['direction'] },
  shim_skipped_without_identity_total: { help: 'Profiles or members skipped because no usable identity was found.', labels: ['direction'] },
  shim_updates_queued_total: { help: 'Outgoing updates written to the outbox (before per-user coalescing).', labels: ['sink'] },
  shim_updates_sent_total: { help: 'Outgoing updates confirmed by the destination.', labels: ['sink'] },
  shim_updates_retried_total: { help: 'Outgoing updates rescheduled after a retryable failure.', labels: ['sink'] },
  shim_updates_failed_total: { help: 'Outgoing updates kept as failed (non-retryable answer or attempts exhausted).', labels: ['sink'] },
  shim_requests_sent_total: { help: 'Outgoing HTTP requests, by sink and outcome.', labels: ['sink', 'outcome'] },
} satisfies Record<string, CounterDef>

export type CounterName = keyof typeof COUNTERS

export class Metrics {
  private readonly values = new Map<string, number>()

  inc(name: CounterName, labels: Record<string, string>, by = 1): void {
    if (by === 0) return
    const key = `${name}${renderLabels(labels)}`
    this.values.set(key, (this.values.get(key) ?? 0) + by)
  }

  /** Current value of one counter series (tests and the benchmark read it). */
  get(name: CounterName, labels: Record<string, string>): number {
    return this.values.get(`${name}${renderLabels(labels)}`) ?? 0
  }

  render(outbox: readonly OutboxGauge[], sinks: readonly SinkState[], now: number): string {
    const out: string[] = []
    for (const [name, def] of Object.entries(COUNTERS) as [CounterName, CounterDef][]) {
      out.push(`# HELP ${name} ${def.help}`, `# TYPE ${name} counter`)
      const series = [...this.values.entries()].filter(([k]) => k === name || k.startsWith(`${name}{`))
      if (series.length === 0 && def.labels.length === 0) out.push(`${name} 0`)
      for (const [k, v] of series.sort(([a], [b]) => a.localeCompare(b))) out.push(`${k} ${v}`)
    }
    out.push('# HELP shim_outbox_depth Updates in the outbox, by sink and state.', '# TYPE shim_outbox_depth gauge')
    for (const g of outbox) {
      out.push(`shim_outbox_depth{sink="${g.sink}",state="pending"} ${g.pending}`)
      out.push(`shim_outbox_depth{sink="${g.sink}",state="inflight"} ${g.inflight}`)
      out.push(`shim_outbox_depth{sink="${g.sink}",state="failed"} ${g.failed}`)
    }
    out.push('# HELP shim_outbox_oldest_pending_age_seconds Age of the oldest update not yet confirmed.', '# TYPE shim_outbox_oldest_pending_age_seconds gauge')
    for (const g of outbox) out.push(`shim_outbox_oldest_pending_age_seconds{sink="${g.sink}"} ${g.oldestPendingAgeSeconds}`)
    out.push('# HELP shim_sink_paused 1 while a sink is paused (shared by every replica), by reason: auth = the destination refused the credential or the URL (401/403/404), retry = backoff or Retry-After.', '# TYPE shim_sink_paused gauge')
    for (const s of sinks) {
      for (const kind of ['auth', 'retry'] as const) out.push(`shim_sink_paused{reason="${kind}",sink="${s.sink}"} ${s.pausedUntil > now && s.kind === kind ? 1 : 0}`)
    }
    out.push('# HELP shim_sink_consecutive_failures Failed requests to a sink since its last success.', '# TYPE shim_sink_consecutive_failures gauge')
    for (const s of sinks) out.push(`shim_sink_consecutive_failures{sink="${s.sink}"} ${s.failures}`)
    return `${out.join('\n')}\n`
  }
}

function renderLabels(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort()
  if (keys.length === 0) return ''
  return `{${keys.map((k) => `${k}="${String(labels[k]).replace(/["\\\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`))}"`).join(',')}}`
}
