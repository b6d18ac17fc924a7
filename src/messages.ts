// No value import from './notes': this chunk must stand alone, so the codes
// are the array's indices (notes.test.ts checks each constant against its sentence).
import type { Note } from './notes'

type Text = (...args: any[]) => string

const off = (setting: string): string => `\`${setting}\` is off`

// One sentence per note code; each names the rule or the call concerned.
const MESSAGES: Text[] = [
  /* TRACK_NO_EVENT */ () => 'track call ignored: the event name must be a non-empty string',
  /* RESERVED_PROPERTY */ (event, key) => `track "${event}": removed the reserved property \`${key}\``,
  /* RENAMED_PROPERTY */ (event, from, to) => `track "${event}": renamed \`${from}\` to \`${to}\``,
  /* PAGE_NOT_NAMED */ (type, categorized, named) =>
    `${type} call not sent: \`consolidatedPageCalls\` and \`trackAllPages\` are off, ` +
    `${categorized ? 'it has no category' : off('trackCategorizedPages')} and ${named ? 'it has no name' : off('trackNamedPages')}`,
  /* NO_PEOPLE */ () => 'identify: traits not set on the People profile because `people` is false',
  /* IDENTIFY_NO_USER */ () => 'identify without userId: People updates wait in mixpanel-browser until the user is identified',
  /* GROUP_NO_USER */ () => 'group call ignored: no user is identified yet (call identify with a userId first)',
  /* GROUP_NO_SETTING */ () => 'group call ignored: the setting `groupIdentifierTraits` is empty',
  /* GROUP_NO_KEY */ (keys: string[]) => `group call ignored: its traits have none of the group keys ${keys.map((k) => `\`${k}\``).join(', ')}`,
  /* ALIAS_NO_USER */ () => 'alias call ignored: it has no userId',
  /* ALIAS_SAME */ (alias) => `alias call ignored: "${alias}" already is the current distinct id`,
  /* UNKNOWN_TYPE */ (type) => `call ignored: unknown message type ${JSON.stringify(type)}`,
  /* NOT_RUNNING */ (label) => `${label} dropped: mixpanel-browser is not running`,
  /* CALL_FAILED */ (label) => `${label} call failed`,
  /* MIXPANEL_FAILED */ (label) => `${label}: a mixpanel-browser call failed`,
  /* REIDENTIFY_FAILED */ () => 're-identifying the known user failed',
  /* CALLBACK_THREW */ () => 'a callback threw',
  /* SKIPPED */ (type) => `${type} call skipped: integrations.Mixpanel is false`,
  /* BRIDGE_FAILED */ () => 'mParticle bridge failed',
  /* LISTEN_FAILED */ () => 'could not listen to analytics.reset() and analytics.alias()',
  /* DELIVERY_DROPPED */ (why, json) => `delivery: dropped ${record(json)}: ${DROPPED[why] ?? `the API refused it (${why})`}`,
  /* DELIVERY_STORAGE */ () => 'delivery: a record could not be stored, it is kept in memory',
  /* PERSISTENCE_FALLBACK */ (wanted, used, queue) => `storage failing: \`${wanted}\` asked, mixpanel-browser uses ${used}, the delivery queue ${queue}`,
  /* DELIVERY_OFF */ () => 'delivery: mixpanel-browser sends by itself (no add_hook)',
]

const DROPPED: Record<string, string> = { full: 'the queue is full', old: 'older than 5 days', 'opted out': 'opted out' }

/** Names a queued record: its event, or the profile or group it updates. */
function record(json: unknown): string {
  try {
    const r = JSON.parse(String(json))
    return r.event ? `"${r.event}" (${r.properties.$insert_id})` : `update of ${r.$distinct_id ?? r.$group_id}`
  } catch {
    return 'a record'
  }
}

/** The sentence for a note (debug output). */
export function explain([code, ...args]: Note): string {
  const text = MESSAGES[code]
  return text ? text(...args) : `note ${code} ${JSON.stringify(args)}`
}
