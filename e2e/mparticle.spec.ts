import type { BrowserContext, Page } from '@playwright/test'
import { expect, test, type MixpanelInbox, type Site } from './fixtures'

// The real mParticle Web SDK, served by the local site; its hosts are stubbed below.
const SDK = '/node_modules/@mparticle/web-sdk/dist/mparticle.js'
const IIFE = '/dist/mixpanel-device-mode.iife.js'
const TOKEN = 'mp-bridge-token'

type Method = 'identify' | 'login' | 'logout' | 'modify'
/** How the identity service answers one method: a user, or a failure status. */
type Answer = { mpid: string; loggedIn?: boolean } | { status: number }

/** Stub of mParticle's identity service (answers can change during a test) and of its other hosts (202). */
class MParticleStub {
  readonly calls: Method[] = []
  constructor(public answers: Record<Method, Answer>) {}

  async attach(context: BrowserContext): Promise<void> {
    await context.route(/^https:\/\/[^/]*\.mparticle\.com\//, async (route) => {
      const request = route.request()
      const cors = { 'access-control-allow-origin': '*', 'access-control-allow-headers': '*', 'access-control-allow-methods': 'POST, GET, OPTIONS' }
      if (request.method() === 'OPTIONS') return route.fulfill({ status: 204, headers: cors })
      const url = new URL(request.url())
      const method = url.host === 'identity.mparticle.com' ? url.pathname.split('/').pop() : undefined
      if (method !== 'identify' && method !== 'login' && method !== 'logout' && method !== 'modify') {
        return route.fulfill({ status: 202, headers: cors, body: '' })
      }
      this.calls.push(method)
      const answer = this.answers[method]
      if ('status' in answer) {
        return route.fulfill({ status: answer.status, headers: cors, contentType: 'application/json', body: '{"errors":[{"code":"server_error","message":"stub failure"}]}' })
      }
      const body = { context: null, mpid: answer.mpid, is_logged_in: answer.loggedIn ?? false, is_ephemeral: false, matched_identities: {} }
      return route.fulfill({ status: 200, headers: cors, contentType: 'application/json', body: JSON.stringify(body) })
    })
  }
}

async function stubMParticle(context: BrowserContext, answers: Partial<Record<Method, Answer>> = {}): Promise<MParticleStub> {
  const stub = new MParticleStub({
    identify: { mpid: '1001' },
    login: { mpid: '2002', loggedIn: true },
    logout: { mpid: '3003' },
    modify: { mpid: '1001' },
    ...answers,
  })
  await stub.attach(context)
  return stub
}

// mParticle's offline init (FACTS.md): no config request, development mode, quiet.
const INIT = `mParticle.init('mp-key', { isDevelopmentMode: true, requestConfig: false, logLevel: 'none', identityCallback: function () { window.initDone = true } })`
// Immediate requests (no 5 s batch flush), so each People update is one /engage request.
const CREATE = (extra = '') => `window.analytics = MixpanelDeviceMode.createAnalytics({ token: '${TOKEN}', mixpanelConfig: { batch_requests: false }${extra} })`

const doc = (body: string): string => `<!doctype html><html><head><meta charset="utf-8"><title>mParticle bridge</title></head><body>${body}</body></html>`
const script = (code: string): string => `<script>${code}</script>`
const src = (path: string): string => `<script src="${path}"></script>`

// What mixpanel-browser adds to every People record by itself.
const AUTOMATIC = ['$device_id', '$user_id']
const AUTOMATIC_SET = ['$browser', '$browser_version', '$os']

/** An /engage record without what mixpanel-browser adds to all of them, so the rest can be compared exactly. */
function ours(record: Record<string, any>): Record<string, any> {
  const out = { ...record }
  for (const key of AUTOMATIC) delete out[key]
  if (out.$set) {
    out.$set = { ...out.$set }
    for (const key of AUTOMATIC_SET) delete out.$set[key]
  }
  return out
}

/** The decoded `/engage/` records that set `$mparticle_user_id` (automatic properties left out). */
const mpidSets = (inbox: MixpanelInbox): Record<string, any>[] => inbox.engage().filter((b) => b.$set && '$mparticle_user_id' in b.$set).map(ours)

/** The MPIDs sent so far, in order. */
const sentMpids = (inbox: MixpanelInbox): unknown[] => mpidSets(inbox).map((b) => b.$set.$mparticle_user_id)

/**
 * Sends a People update of its own and waits for it: every /engage request the
 * page made before it has been recorded by then (no batching, one request per
 * update), so "nothing else was sent" can be asserted without sleeping.
 */
async function settle(page: Page, inbox: MixpanelInbox, marker: string): Promise<void> {
  await page.evaluate((m) => window.analytics.identify({ marker: m }), marker)
  await inbox.until((i) => i.engage().some((b) => b.$set?.marker === marker))
}

/**
 * Runs an mParticle identity call from the page (through `mParticle.Identity`, or the
 * default instance's `mParticle.getInstance().Identity`) and returns what its own callback received.
 */
function identityCall(
  page: Page,
  method: Method,
  identities: Record<string, string> = {},
  via: 'manager' | 'instance' = 'manager',
): Promise<{ httpCode: number; mpid: string | null }> {
  return page.evaluate(
    ([m, ids, v]) =>
      new Promise<{ httpCode: number; mpid: string | null }>((resolve) => {
        const sdk = v === 'instance' ? window.mParticle.getInstance() : window.mParticle
        sdk.Identity[m]({ userIdentities: ids }, (result: any) => {
          const user = result.getUser()
          resolve({ httpCode: result.httpCode, mpid: user ? user.getMPID() : null })
        })
      }),
    [method, identities, via] as const,
  )
}

// mParticle's snippet (README of @mparticle/web-sdk 2.68) with the config it needs set before it: a stub
// that queues calls in config.rq and loads the SDK from mParticle's CDN.
const SNIPPET = script(`
  window.mParticle = { config: { isDevelopmentMode: true, requestConfig: false, logLevel: 'none' } };
  (function(e){window.mParticle=window.mParticle||{};window.mParticle.EventType={Unknown:0,Navigation:1,Location:2,Search:3,Transaction:4,UserContent:5,UserPreference:6,Social:7,Other:8,Media:9};window.mParticle.eCommerce={Cart:{}};window.mParticle.Identity={};window.mParticle.Rokt={};window.mParticle.config=window.mParticle.config||{};window.mParticle.config.rq=[];window.mParticle.config.snippetVersion=2.8;window.mParticle.ready=function(e){window.mParticle.config.rq.push(e)};var t=["endSession","logError","logBaseEvent","logEvent","logForm","logLink","logPageView","setSessionAttribute","setAppName","setAppVersion","setOptOut","setPosition","startNewSession","startTrackingLocation","stopTrackingLocation"];var i=["setCurrencyCode","logCheckout"];var n=["identify","login","logout","modify"];var o=["selectPlacements","hashAttributes","hashSha256","setExtensionData","use","getVersion","terminate"];t.forEach(function(e){window.mParticle[e]=r(e)});i.forEach(function(e){window.mParticle.eCommerce[e]=r(e,"eCommerce")});n.forEach(function(e){window.mParticle.Identity[e]=r(e,"Identity")});o.forEach(function(e){window.mParticle.Rokt[e]=r(e,"Rokt")});function r(t,i){return function(){if(i){t=i+"."+t}var e=Array.prototype.slice.call(arguments);e.unshift(t);window.mParticle.config.rq.push(e)}}var a,c,s=window.mParticle.config,l=s.isDevelopmentMode?1:0,w="?env="+l,d=window.mParticle.config.dataPlan;if(d){a=d.planId;c=d.planVersion;if(a){if(c&&(c<1||c>1e3)){c=null}w+="&plan_id="+a+(c?"&plan_version="+c:"")}}var m=window.mParticle.config.versions;var f=[];if(m){Object.keys(m).forEach(function(e){f.push(e+"="+m[e])})}var p=document.createElement("script");p.type="text/javascript";p.async=true;p.src=("https:"==document.location.protocol?"https://jssdkcdns":"http://jssdkcdn")+".mparticle.com/js/v2/"+e+"/mparticle.js"+w+"&"+f.join("&");var P=document.getElementsByTagName("script")[0];P.parentNode.insertBefore(p,P)})("mp-key");`)
// A login made through the stub, before the SDK is there.
const LOGIN_C7 = script(`window.mParticle.Identity.login({ userIdentities: { customerid: 'c-7' } }, function (r) { window.loginCode = r.httpCode }); window.loginQueued = true`)

/**
 * Opens a page using the snippet. The CDN answers with the local SDK plus the init call mParticle's
 * CDN appends; it is held back until our script ran, so the bridge really meets the stub (an async
 * script could otherwise run before a later classic script).
 */
async function snippetPage(page: Page, context: BrowserContext, site: Site, name: string, body: string): Promise<void> {
  const sdk = await (await context.request.get(site.origin + SDK)).text()
  let release = (): void => {}
  const released = new Promise<void>((resolve) => (release = resolve))
  // On an http:// page the snippet loads from http://jssdkcdn.mparticle.com.
  await context.route(/^http:\/\/jssdkcdn\.mparticle\.com\/js\/v2\//, async (route) => {
    await released
    await route.fulfill({ status: 200, contentType: 'text/javascript', body: `${sdk}\nwindow.mParticle.init('mp-key', window.mParticle.config);` })
  })
  await page.goto(site.page(`/mp/${name}.html`, doc(body)), { waitUntil: 'commit' })
  await page.waitForFunction(() => window.analytics !== undefined && window.loginQueued === true)
  release()
}

function collectErrors(page: Page): string[] {
  const errors: string[] = []
  page.on('pageerror', (error) => errors.push(error.message))
  return errors
}

declare global {
  interface Window {
    analytics: any
    mParticle: any
    initDone?: boolean
    loginCode?: number
    loginQueued?: boolean
  }
}

test.describe('mParticle bridge', () => {
  test('with mParticle initialised first, the profile gets the initial MPID once', async ({ page, context, site, inbox }) => {
    await stubMParticle(context)
    const errors = collectErrors(page)
    const url = site.page(
      '/mp/first.html',
      doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-1'); analytics.track('Viewed')`)),
    )
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1 && i.events('Viewed').length === 1)
    await settle(page, inbox, 'end')
    expect(mpidSets(inbox)).toEqual([{ $token: TOKEN, $distinct_id: 'user-1', $set: { $mparticle_user_id: '1001' } }])
    expect(errors).toEqual([])
  })

  test('with our script first and mParticle loaded and initialised after it, the MPID still arrives', async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { identify: { mpid: '4004' } })
    const url = site.page('/mp/ours-first.html', doc(src(IIFE) + script(`${CREATE()}; analytics.identify('user-2')`) + src(SDK) + script(INIT)))
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)
    await settle(page, inbox, 'end')
    expect(mpidSets(inbox)).toEqual([{ $token: TOKEN, $distinct_id: 'user-2', $set: { $mparticle_user_id: '4004' } }])
  })

  test('with mParticle loaded first but initialised long after our script, the MPID arrives at its init', async ({ page, context, site, inbox }) => {
    const stub = await stubMParticle(context, { identify: { mpid: '5005' } })
    const url = site.page('/mp/late-init.html', doc(src(SDK) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-3')`)))
    await page.goto(url)
    await settle(page, inbox, 'before-init')
    expect(sentMpids(inbox)).toEqual([])
    expect(stub.calls).toEqual([])

    await page.evaluate(INIT)
    await inbox.until((i) => mpidSets(i).length === 1)
    expect(mpidSets(inbox)).toEqual([{ $token: TOKEN, $distinct_id: 'user-3', $set: { $mparticle_user_id: '5005' } }])
  })

  test('with window.mParticle defined only after our script ran, the bridge attaches to it', async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { identify: { mpid: '6006' } })
    const url = site.page('/mp/late-define.html', doc(src(IIFE) + script(`${CREATE()}; analytics.identify('user-4')`)))
    await page.goto(url)
    await settle(page, inbox, 'absent')
    expect(await page.evaluate(() => window.mParticle)).toBeUndefined()

    await page.addScriptTag({ url: SDK })
    await page.evaluate(INIT)
    await inbox.until((i) => mpidSets(i).length === 1)
    expect(sentMpids(inbox)).toEqual(['6006'])
    expect(await page.evaluate(() => typeof window.mParticle.Identity.getCurrentUser)).toBe('function')

    // Identity calls made after that are watched as well.
    await identityCall(page, 'login', { customerid: 'c-4' })
    await inbox.until((i) => mpidSets(i).length === 2)
    expect(mpidSets(inbox)[1]).toEqual({ $token: TOKEN, $distinct_id: 'user-4', $set: { $mparticle_user_id: '2002' } })
  })

  test("with mParticle's snippet before our script, a login queued in its stub before our script is followed", async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { identify: { mpid: '7007' }, login: { mpid: '7777', loggedIn: true } })
    await snippetPage(page, context, site, 'snippet-first', SNIPPET + LOGIN_C7 + src(IIFE) + script(`${CREATE()}; analytics.identify('user-7')`))
    await inbox.until((i) => sentMpids(i).includes('7777'))
    await expect.poll(() => page.evaluate(() => window.loginCode)).toBe(200)
    await settle(page, inbox, 'end')
    expect(mpidSets(inbox)).toEqual([
      { $token: TOKEN, $distinct_id: 'user-7', $set: { $mparticle_user_id: '7007' } },
      { $token: TOKEN, $distinct_id: 'user-7', $set: { $mparticle_user_id: '7777' } },
    ])
  })

  test("with our script before mParticle's snippet, the stub is found and a login queued in it is followed", async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { identify: { mpid: '7007' }, login: { mpid: '7777', loggedIn: true } })
    await snippetPage(page, context, site, 'ours-then-snippet', src(IIFE) + script(`${CREATE()}; analytics.identify('user-7')`) + SNIPPET + LOGIN_C7)
    await inbox.until((i) => sentMpids(i).includes('7777'))
    await expect.poll(() => page.evaluate(() => window.loginCode)).toBe(200)
    await settle(page, inbox, 'end')
    expect(sentMpids(inbox)).toEqual(['7007', '7777'])
  })

  test('login and logout to new MPIDs update the profile at once, and the page still gets its callbacks', async ({ page, context, site, inbox }) => {
    const stub = await stubMParticle(context)
    const url = site.page('/mp/login.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-5')`)))
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)

    expect(await identityCall(page, 'login', { customerid: 'c-5', email: 'ada@example.com' })).toEqual({ httpCode: 200, mpid: '2002' })
    await inbox.until((i) => mpidSets(i).length === 2)
    // Called on the instance directly: watched too (the bridge wraps the instance's Identity).
    expect(await identityCall(page, 'logout', {}, 'instance')).toEqual({ httpCode: 200, mpid: '3003' })
    await inbox.until((i) => mpidSets(i).length === 3)

    expect(mpidSets(inbox)).toEqual([
      { $token: TOKEN, $distinct_id: 'user-5', $set: { $mparticle_user_id: '1001' } },
      { $token: TOKEN, $distinct_id: 'user-5', $set: { $mparticle_user_id: '2002' } },
      { $token: TOKEN, $distinct_id: 'user-5', $set: { $mparticle_user_id: '3003' } },
    ])
    expect(stub.calls).toEqual(['identify', 'login', 'logout'])
  })

  test('identify and modify answers that change the MPID update the profile', async ({ page, context, site, inbox }) => {
    const stub = await stubMParticle(context)
    const url = site.page('/mp/identify.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-6')`)))
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)

    stub.answers.identify = { mpid: '8008' }
    expect(await identityCall(page, 'identify', { customerid: 'c-6' })).toEqual({ httpCode: 200, mpid: '8008' })
    await inbox.until((i) => mpidSets(i).length === 2)

    stub.answers.modify = { mpid: '9009' }
    expect((await identityCall(page, 'modify', { email: 'grace@example.com' })).httpCode).toBe(200)
    await inbox.until((i) => mpidSets(i).length === 3)

    expect(sentMpids(inbox)).toEqual(['1001', '8008', '9009'])
    expect(mpidSets(inbox).every((b) => b.$distinct_id === 'user-6')).toBe(true)
  })

  test('an unchanged MPID is sent once: no /engage per track call, none for a login that keeps the MPID', async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { login: { mpid: '1001', loggedIn: true } })
    const url = site.page(
      '/mp/dedupe.html',
      doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-8')`)),
    )
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)
    await page.evaluate(async () => {
      for (let n = 0; n < 5; n += 1) await window.analytics.track('Clicked', { n })
      await window.analytics.page()
    })
    expect(await identityCall(page, 'login', { customerid: 'c-8' })).toEqual({ httpCode: 200, mpid: '1001' })
    await inbox.until((i) => i.events('Clicked').length === 5)
    await settle(page, inbox, 'end')

    expect(mpidSets(inbox)).toEqual([{ $token: TOKEN, $distinct_id: 'user-8', $set: { $mparticle_user_id: '1001' } }])
    // Every /engage request of the page: mixpanel-browser's own, identify's trait `id`, the MPID once, the marker.
    const user = { $token: TOKEN, $distinct_id: 'user-8' }
    // Separate XHRs: they may arrive in any order.
    const sorted = (records: Record<string, any>[]): Record<string, any>[] =>
      records.map((r) => [JSON.stringify(r), r] as const).sort(([a], [b]) => a.localeCompare(b)).map(([, r]) => r)
    expect(sorted(inbox.engage().map(ours))).toEqual(
      sorted([
        { ...user, $set_once: { $initial_referrer: '$direct', $initial_referring_domain: '$direct' } },
        { ...user, $set: { id: 'user-8' } },
        { ...user, $set: { $mparticle_user_id: '1001' } },
        { ...user, $set: { marker: 'end' } },
      ]),
    )
  })

  test('when mParticle identity fails, nothing throws and no empty MPID is sent', async ({ page, context, site, inbox }) => {
    const stub = await stubMParticle(context, { identify: { status: 500 }, login: { status: 500 } })
    const errors = collectErrors(page)
    const url = site.page('/mp/failing.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-9'); analytics.track('Still Works')`)))
    await page.goto(url)
    await inbox.until((i) => i.events('Still Works').length === 1)
    await expect.poll(() => stub.calls).toEqual(['identify'])

    // The SDK reports a failed identity request to the callback as -1 (HTTPCodes.noHttpCoverage).
    expect(await identityCall(page, 'login', { customerid: 'c-9' })).toEqual({ httpCode: -1, mpid: null })
    await settle(page, inbox, 'end')
    expect(sentMpids(inbox)).toEqual([])
    expect(await page.evaluate(() => window.mParticle.Identity.getCurrentUser())).toBeNull()
    expect(errors).toEqual([])
  })

  test('a login that fails after a good init keeps the MPID and sends nothing more', async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { login: { status: 500 } })
    const url = site.page('/mp/login-fails.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-10')`)))
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)
    expect(await identityCall(page, 'login', { customerid: 'c-10' })).toEqual({ httpCode: -1, mpid: '1001' })
    await settle(page, inbox, 'end')
    expect(sentMpids(inbox)).toEqual(['1001'])
  })

  test('without mParticle on the page, or with a half-built one, tracking works and nothing is sent for it', async ({ page, site, inbox }) => {
    const errors = collectErrors(page)
    const url = site.page(
      '/mp/absent.html',
      doc(
        src(IIFE) +
          script(`${CREATE()}; analytics.identify('user-11'); analytics.track('Alone')`) +
          // A half-built SDK arriving later: no Identity, then a getCurrentUser that throws.
          script(`window.mParticle = { ready: function (f) { f() } }`) +
          script(
            `window.second = MixpanelDeviceMode.createAnalytics({ token: '${TOKEN}' });` +
              `window.mParticle = { Identity: { getCurrentUser: function () { throw new Error('half') } } }`,
          ),
      ),
    )
    await page.goto(url)
    await inbox.until((i) => i.events('Alone').length === 1)
    await settle(page, inbox, 'end')
    expect(sentMpids(inbox)).toEqual([])
    expect(errors).toEqual([])
  })

  test('`mparticle: false` turns the bridge off', async ({ page, context, site, inbox }) => {
    await stubMParticle(context)
    const url = site.page(
      '/mp/off.html',
      doc(src(SDK) + script(`window.originalLogin = mParticle.getInstance().Identity.login;` + INIT) + src(IIFE) + script(`${CREATE(', mparticle: false')}; analytics.identify('user-12')`)),
    )
    await page.goto(url)
    await expect.poll(() => page.evaluate(() => window.initDone)).toBe(true)
    expect(await identityCall(page, 'login', { customerid: 'c-12' })).toEqual({ httpCode: 200, mpid: '2002' })
    await settle(page, inbox, 'end')
    expect(sentMpids(inbox)).toEqual([])
    expect(await page.evaluate(() => window.mParticle.getInstance().Identity.login === (window as any).originalLogin)).toBe(true)
  })

  test('`people: false` writes no profile, so no MPID either', async ({ page, context, site, inbox }) => {
    await stubMParticle(context)
    const url = site.page('/mp/no-people.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE(', people: false')}; analytics.identify('user-13'); analytics.track('No People')`)))
    await page.goto(url)
    await expect.poll(() => page.evaluate(() => window.initDone)).toBe(true)
    await inbox.until((i) => i.events('No People').length === 1)
    await identityCall(page, 'login', { customerid: 'c-13' })
    await page.evaluate(() => window.analytics.track('After Login'))
    await inbox.until((i) => i.events('After Login').length === 1)
    expect(sentMpids(inbox)).toEqual([])
    // No /engage at all, mixpanel-browser's own first-touch $set_once included (docs/behaviour.md, "people: false").
    expect(inbox.engage()).toEqual([])
  })

  test('for an anonymous Mixpanel user the MPID waits in mixpanel-browser until identify()', async ({ page, context, site, inbox }) => {
    await stubMParticle(context)
    const url = site.page('/mp/anonymous.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.track('Anonymous')`)))
    await page.goto(url)
    await expect.poll(() => page.evaluate(() => window.initDone)).toBe(true)
    await inbox.until((i) => i.events('Anonymous').length === 1)
    // Queued, not sent: mixpanel-browser holds People updates of an anonymous user.
    await page.evaluate(() => window.analytics.track('Marker'))
    await inbox.until((i) => i.events('Marker').length === 1)
    expect(inbox.engage()).toEqual([])

    await page.evaluate(() => window.analytics.identify('user-14'))
    await inbox.until((i) => mpidSets(i).length === 1)
    expect(mpidSets(inbox)).toEqual([{ $token: TOKEN, $distinct_id: 'user-14', $set: { $mparticle_user_id: '1001' } }])
  })

  test('the SDK passed as deps.mParticle is used instead of window.mParticle', async ({ page, context, site, inbox }) => {
    await stubMParticle(context, { identify: { mpid: '1212' } })
    const url = site.page(
      '/mp/deps.html',
      doc(
        src(SDK) +
          script(`window.sdk = window.mParticle; delete window.mParticle;`) +
          src(IIFE) +
          script(`window.analytics = MixpanelDeviceMode.createAnalytics({ token: '${TOKEN}', mixpanelConfig: { batch_requests: false } }, { mParticle: window.sdk }); analytics.identify('user-15')`) +
          script(`window.sdk.init('mp-key', { isDevelopmentMode: true, requestConfig: false, logLevel: 'none' })`),
      ),
    )
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)
    expect(mpidSets(inbox)).toEqual([{ $token: TOKEN, $distinct_id: 'user-15', $set: { $mparticle_user_id: '1212' } }])
  })

  test('a named mParticle instance passed as deps.mParticle is followed, not the default one', async ({ page, context, site, inbox }) => {
    const stub = await stubMParticle(context)
    await page.goto(site.page('/mp/named.html', doc(src(SDK) + script(INIT) + src(IIFE))))
    await page.waitForFunction(() => window.initDone === true)
    // The named instance gets its own MPID from the identity service (its own
    // workspaceToken gives it its own storage; otherwise it reuses the default's user).
    stub.answers.identify = { mpid: '4004' }
    await page.evaluate(() => new Promise<void>((resolve) => {
      window.mParticle.init('mp-key-2', { isDevelopmentMode: true, requestConfig: false, logLevel: 'none', workspaceToken: 'second-ws', identityCallback: () => resolve() }, 'second')
    }))
    await page.evaluate((token) => {
      window.analytics = (window as any).MixpanelDeviceMode.createAnalytics(
        { token, mixpanelConfig: { batch_requests: false } },
        { mParticle: window.mParticle.getInstance('second') },
      )
      return window.analytics.identify('user-n')
    }, TOKEN)
    await inbox.until((i) => mpidSets(i).length === 1)
    // A login on the default instance is not this bridge's business.
    stub.answers.login = { mpid: '6006', loggedIn: true }
    expect(await identityCall(page, 'login', { customerid: 'd-1' })).toEqual({ httpCode: 200, mpid: '6006' })
    stub.answers.login = { mpid: '5005', loggedIn: true }
    const login = await page.evaluate(() => new Promise((resolve) => {
      window.mParticle.getInstance('second').Identity.login({ userIdentities: { customerid: 'n-1' } }, (r: any) => resolve(r.getUser().getMPID()))
    }))
    expect(login).toBe('5005')
    await inbox.until((i) => mpidSets(i).length === 2)
    await settle(page, inbox, 'end')
    expect(mpidSets(inbox)).toEqual([
      { $token: TOKEN, $distinct_id: 'user-n', $set: { $mparticle_user_id: '4004' } },
      { $token: TOKEN, $distinct_id: 'user-n', $set: { $mparticle_user_id: '5005' } },
    ])
  })
})

test.describe('mParticle bridge across users on one page', () => {
  test('after reset() and identify() of another user, the new profile gets the MPID too', async ({ page, context, site, inbox }) => {
    await stubMParticle(context)
    const url = site.page('/mp/reset.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-a')`)))
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)
    await page.evaluate(async () => {
      await window.analytics.reset()
      await window.analytics.identify('user-b')
    })
    await inbox.until((i) => mpidSets(i).length === 2)
    await settle(page, inbox, 'end')
    expect(mpidSets(inbox)).toEqual([
      { $token: TOKEN, $distinct_id: 'user-a', $set: { $mparticle_user_id: '1001' } },
      { $token: TOKEN, $distinct_id: 'user-b', $set: { $mparticle_user_id: '1001' } },
    ])
  })

  test('identify() of a second user without reset also gives that profile the MPID', async ({ page, context, site, inbox }) => {
    await stubMParticle(context)
    const url = site.page('/mp/switch.html', doc(src(SDK) + script(INIT) + src(IIFE) + script(`${CREATE()}; analytics.identify('user-c')`)))
    await page.goto(url)
    await inbox.until((i) => mpidSets(i).length === 1)
    await page.evaluate(() => window.analytics.identify('user-d'))
    await inbox.until((i) => mpidSets(i).length === 2)
    await settle(page, inbox, 'end')
    expect(mpidSets(inbox).map((b) => [b.$distinct_id, b.$set.$mparticle_user_id])).toEqual([
      ['user-c', '1001'],
      ['user-d', '1001'],
    ])
  })
})
