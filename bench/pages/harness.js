// In-page half of bench/browser.mjs. Loaded after dist/mixpanel-device-mode.iife.js.
// `ours` is the facade; `direct` is a second mixpanel-browser instance made from
// the very same core (analytics.mixpanel.init(token, config, name)), driven with
// the calls a careful developer would write by hand for the same records.
;(function () {
  const USER = 'user-42'
  // identify: 10 traits, 2 of them arrays.
  const TRAITS = {
    email: 'ada@example.com',
    firstName: 'Ada',
    lastName: 'Lovelace',
    createdAt: '2024-01-02T03:04:05.000Z',
    plan: 'pro',
    company: 'Analytical Engines',
    logins: 12,
    verified: true,
    roles: ['admin', 'editor'],
    tags: ['beta', 'eu'],
  }
  // track: 10 properties, one a Date.
  const PROPERTIES = {
    sku: 'SKU-1',
    name: 'Notebook',
    category: 'Stationery',
    price: 9.99,
    quantity: 2,
    currency: 'EUR',
    in_stock: true,
    coupon: 'SPRING',
    variants: ['red', 'blue'],
    added_at: new Date('2026-11-23T10:00:00.000Z'),
  }
  const GROUP_TRAITS = { company_id: 'acme', name: 'Acme', plan: 'gold', employees: 42 }

  // What a careful developer writes by hand for the same Mixpanel records.
  const byHand = {
    identify(mp) {
      const t = TRAITS
      mp.identify(USER)
      mp.register({ ...t, id: USER, mp_name_tag: t.email })
      mp.people.set({
        $email: t.email, $first_name: t.firstName, $last_name: t.lastName, $name: `${t.firstName} ${t.lastName}`,
        $created: t.createdAt, plan: t.plan, company: t.company, logins: t.logins, verified: t.verified, id: USER,
      })
      mp.people.union({ roles: t.roles, tags: t.tags })
    },
    track(mp) {
      mp.track('Product Added', { ...PROPERTIES, added_at: PROPERTIES.added_at.toISOString() })
    },
    page(mp) {
      mp.track('Loaded a Page', {
        path: location.pathname, referrer: document.referrer, search: location.search,
        title: document.title, url: location.href.replace(/#.*$/, ''),
      })
    },
    group(mp) {
      mp.set_group('company_id', GROUP_TRAITS.company_id)
      mp.get_group('company_id', GROUP_TRAITS.company_id).set({ ...GROUP_TRAITS })
    },
  }

  // A naive Segment-style integration: one mixpanel call per trait.
  const naive = {
    identify(mp) {
      const t = TRAITS
      const special = { email: '$email', firstName: '$first_name', lastName: '$last_name', createdAt: '$created' }
      mp.identify(USER)
      for (const key of Object.keys(t)) mp.register({ [key]: t[key] })
      mp.register({ id: USER })
      mp.register({ mp_name_tag: t.email })
      for (const key of Object.keys(t)) {
        if (Array.isArray(t[key])) mp.people.union(key, t[key])
        else mp.people.set(special[key] || key, t[key])
      }
      mp.people.set('$name', `${t.firstName} ${t.lastName}`)
      mp.people.set('id', USER)
    },
    track: byHand.track,
    page: byHand.page,
    group(mp) {
      mp.set_group('company_id', GROUP_TRAITS.company_id)
      for (const key of Object.keys(GROUP_TRAITS)) mp.get_group('company_id', GROUP_TRAITS.company_id).set(key, GROUP_TRAITS[key])
    },
  }

  const facade = {
    identify: (a) => a.identify(USER, TRAITS),
    track: (a) => a.track('Product Added', PROPERTIES),
    page: (a) => a.page(),
    group: (a) => a.group('acme', GROUP_TRAITS),
  }

  const config = (persistence, extra) => ({ persistence, track_pageview: false, api_payload_format: 'json', ...extra })

  async function setup(persistence, extra = {}) {
    const ours = MixpanelDeviceMode.createAnalytics({
      token: 'bench-ours', persistence, groupIdentifierTraits: ['company_id'], mixpanelConfig: extra,
    })
    await ours.ready()
    const direct = ours.mixpanel.init('bench-hand', config(persistence, extra), 'bench_direct')
    return { ours, direct }
  }

  const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]
  const summary = (samples) => {
    const sorted = samples.slice().sort((a, b) => a - b)
    return { n: sorted.length, median: quantile(sorted, 0.5), p95: quantile(sorted, 0.95), mean: sorted.reduce((s, x) => s + x, 0) / sorted.length }
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))
  const queued = () => {
    let chars = 0
    for (let i = 0; i < localStorage.length; i++) {
      const key = localStorage.key(i)
      if (key.startsWith('__mpq_') && !/:[XY]$/.test(key)) chars += localStorage.getItem(key).length
    }
    return chars
  }
  /**
   * Waits (at most 10 s) until the batch queues are back under ~100 records.
   * The loop makes calls far faster than any page does; without this the
   * localStorage queues grow to megabytes and every queue write (done in a
   * timer, outside the timed calls) rewrites them, for both sides alike.
   */
  async function drain() {
    const until = performance.now() + 10_000
    do await sleep(10)
    while (queued() > 100_000 && performance.now() < until)
  }

  /**
   * Main-thread time of each call, ours and direct interleaved (alternating
   * which goes first) so both see the same cookie, queue and GC conditions.
   * Our calls return a promise; the work is synchronous once started, and the
   * promise settles in a microtask, so the synchronous time is what blocks.
   */
  async function calls({ persistence, n, warmup, kind }) {
    const { ours, direct } = await setup(persistence)
    // The steady state is a known user (and group needs one).
    await facade.identify(ours)
    byHand.identify(direct)
    await drain()
    const out = {}
    {
      const a = [], b = []
      for (let i = 0; i < warmup + n; i++) {
        const oursFirst = i % 2 === 0
        for (const side of oursFirst ? ['ours', 'direct'] : ['direct', 'ours']) {
          const t0 = performance.now()
          if (side === 'ours') facade[kind](ours)
          else byHand[kind](direct)
          const dt = performance.now() - t0
          if (i >= warmup) (side === 'ours' ? a : b).push(dt)
        }
        // Let mixpanel-browser's timers (batch queue writes, flushes) run now and then.
        if (i % 50 === 49) await drain()
      }
      out[kind] = { ours: summary(a), direct: summary(b) }
    }
    return out
  }

  /**
   * Mixpanel calls made per analytics call, counted by wrapping the instances'
   * methods: ours, the same records by hand, and a naive one-call-per-trait
   * integration, each on its own instance (token) with batching off, so that
   * bench/browser.mjs can also count the records each one sends.
   */
  let counting
  async function countSetup() {
    const { ours, direct } = await setup('localStorage', { batch_requests: false })
    const naiveMp = ours.mixpanel.init('bench-naive', config('localStorage', { batch_requests: false }), 'bench_naive')
    const wrap = (mp) => {
      const log = []
      // Only the calls made from outside mixpanel-browser, not those it makes to itself.
      let depth = 0
      const spy = (target, name, label) => {
        const original = target[name]
        target[name] = function (...args) {
          if (depth === 0) log.push(label)
          depth += 1
          let result
          try {
            result = original.apply(this, args)
          } finally {
            depth -= 1
          }
          if (label === 'get_group' && result) {
            for (const m of ['set', 'set_once', 'union', 'unset', 'remove']) if (!result[m].__spied) spy(result, m, `group.${m}`), (result[m].__spied = true)
          }
          return result
        }
      }
      for (const m of ['identify', 'register', 'register_once', 'track', 'set_group', 'get_group', 'alias', 'reset', 'get_property', 'get_distinct_id']) spy(mp, m, m)
      for (const m of ['set', 'set_once', 'union', 'increment', 'append']) spy(mp.people, m, `people.${m}`)
      return log
    }
    counting = { ours, direct, naiveMp, logs: { ours: wrap(ours.mixpanel), direct: wrap(direct), naive: wrap(naiveMp) } }
    // The steady state is a known user (and group needs one).
    await facade.identify(ours); byHand.identify(direct); naive.identify(naiveMp)
  }

  async function count(kind) {
    const { ours, direct, naiveMp, logs } = counting
    for (const log of Object.values(logs)) log.length = 0
    await facade[kind](ours)
    byHand[kind](direct)
    naive[kind](naiveMp)
    const READS = ['get_property', 'get_distinct_id', 'get_group']
    const writes = (log) => log.filter((c) => !READS.includes(c))
    return {
      ours: writes(logs.ours), oursReads: logs.ours.length - writes(logs.ours).length,
      direct: writes(logs.direct), naive: writes(logs.naive),
    }
  }

  /** `count` track calls with default batching, on one side. */
  async function network({ side, count }) {
    const { ours, direct } = await setup('cookie')
    for (let i = 0; i < count; i++) {
      if (side === 'ours') facade.track(ours)
      else byHand.track(direct)
    }
  }

  window.bench = { calls, countSetup, count, network }
})()
