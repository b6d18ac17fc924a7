// In-page half of bench/browser.mjs. Every page runs ONE side:
// - 'ours': dist/mixpanel-device-mode.iife.js (`MixpanelDeviceMode`), the facade;
// - 'hand': mixpanel-browser's core alone (`mixpanelCore`, built exactly as the
//   IIFE builds it), driven with the calls a developer migrating from Segment
//   writes by hand for the same records;
// - 'naive': the same core, one mixpanel call per trait;
// - 'batched': the hand-written calls on mixpanel-browser's core as an app
//   bundles it from npm (nothing left out), with its default batching: the
//   records join its localStorage queue after the call and go every 5 s.
// Every other side runs with `batch_requests: false` (see bench/browser.mjs),
// and all send to the bench server's origin (`apiHost`), which answers as Mixpanel.
;(function () {
  // identify: 10 traits, 2 of them arrays; the user changes between calls.
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
  const user = (i) => `user-${i}`

  // What a careful developer writes by hand for the same Mixpanel records:
  // identify only because the user changed, every trait under Mixpanel's names.
  const hand = {
    identify(mp, id) {
      const t = TRAITS
      mp.identify(id)
      mp.register({ ...t, id, mp_name_tag: t.email })
      mp.people.set({
        $email: t.email, $first_name: t.firstName, $last_name: t.lastName, $name: `${t.firstName} ${t.lastName}`,
        $created: t.createdAt, plan: t.plan, company: t.company, logins: t.logins, verified: t.verified, id,
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
    identify(mp, id) {
      const t = TRAITS
      const special = { email: '$email', firstName: '$first_name', lastName: '$last_name', createdAt: '$created' }
      mp.identify(id)
      for (const key of Object.keys(t)) mp.register({ [key]: t[key] })
      mp.register({ id })
      mp.register({ mp_name_tag: t.email })
      for (const key of Object.keys(t)) {
        if (Array.isArray(t[key])) mp.people.union(key, t[key])
        else mp.people.set(special[key] || key, t[key])
      }
      mp.people.set('$name', `${t.firstName} ${t.lastName}`)
      mp.people.set('id', id)
    },
    track: hand.track,
    page: hand.page,
    group(mp) {
      mp.set_group('company_id', GROUP_TRAITS.company_id)
      for (const key of Object.keys(GROUP_TRAITS)) mp.get_group('company_id', GROUP_TRAITS.company_id).set(key, GROUP_TRAITS[key])
    },
  }

  const ours = {
    identify: (a, id) => a.identify(id, TRAITS),
    track: (a) => a.track('Product Added', PROPERTIES),
    page: (a) => a.page(),
    group: (a) => a.group('acme', GROUP_TRAITS),
  }

  /** One side, started and in the steady state (a known user): `call(i)` makes the i-th call. */
  async function setup({ side, persistence, apiHost, kind }) {
    const extra = side === 'batched' ? {} : { batch_requests: false }
    let mp, call
    if (side === 'ours') {
      const a = MixpanelDeviceMode.createAnalytics({
        token: 'bench', persistence, apiHost, groupIdentifierTraits: ['company_id'], mixpanelConfig: extra,
      })
      await a.ready()
      mp = a.mixpanel
      await ours.identify(a, user(0))
      call = (i) => ours[kind](a, user(i))
    } else {
      const calls = side === 'naive' ? naive : hand
      mp = mixpanelCore.init('bench', { persistence, api_host: apiHost, api_payload_format: 'json', track_pageview: false, ...extra }, 'bench_direct')
      calls.identify(mp, user(0))
      call = (i) => calls[kind](mp, user(i))
    }
    return { mp, call }
  }

  /**
   * Main-thread time of calls, in batches driven by bench/browser.mjs, which
   * alternates the sides' pages batch by batch so that they share the
   * machine's ups and downs. Our calls return a promise, but the work is
   * synchronous and the promise settles in a microtask, so the synchronous
   * time is what blocks. The user changes on every identify (i starts at 1;
   * the setup used 0).
   */
  let timed
  async function prepare(options) {
    const { call } = await setup(options)
    timed = { call, next: 1 }
  }
  async function batch(count) {
    const samples = []
    for (let k = 0; k < count; k++) {
      const i = timed.next++
      const t0 = performance.now()
      timed.call(i)
      samples.push(performance.now() - t0)
    }
    // Let the requests' callbacks and timers run.
    await new Promise((resolve) => setTimeout(resolve, 0))
    return samples
  }

  /**
   * Per call: persistence reloads (mixpanel-browser's `persistence.load()`),
   * cookie reads and writes, localStorage reads and writes, and requests sent,
   * counted by wrapping them in this page only, after the setup.
   */
  async function counts(options) {
    const { n } = options
    const { mp, call } = await setup(options)
    const count = { reloads: 0, cookieReads: 0, cookieWrites: 0, storageReads: 0, storageWrites: 0, requests: 0 }
    const persistence = mp.persistence
    const load = persistence.load
    persistence.load = function () {
      count.reloads += 1
      return load.apply(this, arguments)
    }
    const cookie = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie')
    Object.defineProperty(document, 'cookie', {
      configurable: true,
      get() {
        count.cookieReads += 1
        return cookie.get.call(this)
      },
      set(value) {
        count.cookieWrites += 1
        cookie.set.call(this, value)
      },
    })
    const { getItem, setItem } = Storage.prototype
    Storage.prototype.getItem = function () {
      if (this === localStorage) count.storageReads += 1
      return getItem.apply(this, arguments)
    }
    Storage.prototype.setItem = function () {
      if (this === localStorage) count.storageWrites += 1
      return setItem.apply(this, arguments)
    }
    // mixpanel-browser sends with XMLHttpRequest, our delivery queue with fetch.
    const send = XMLHttpRequest.prototype.send
    XMLHttpRequest.prototype.send = function () {
      count.requests += 1
      return send.apply(this, arguments)
    }
    const fetch = window.fetch
    window.fetch = function () {
      count.requests += 1
      return fetch.apply(this, arguments)
    }
    for (let i = 1; i <= n; i++) await call(i)
    // Our delivery queue sends after the call (batches of up to 50): wait until it holds nothing.
    for (let waited = 0; waited < 5000 && Object.keys(localStorage).some((key) => key.startsWith('__mpdm_')); waited += 20) {
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return Object.fromEntries(Object.entries(count).map(([k, v]) => [k, v / n]))
  }

  window.bench = { prepare, batch, counts }
})()
