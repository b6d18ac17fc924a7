import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { fileURLToPath } from 'node:url'
import type { Page } from '@playwright/test'
import { decodePayload, startCollector } from '../demo/collector.mjs'
import { demoMpid, shimCurl, startDemo } from '../demo/demo.mjs'
import { expect, test } from './fixtures'

const ROOT = fileURLToPath(new URL('..', import.meta.url))
const FREE = { demo: 0, collector: 0, shim: 0 }

type Rec = Record<string, any>
interface Shown {
  endpoint: string
  title: string
  summary: Rec
  body: Rec
}

/** The panel's records, oldest first, as the page shows them. */
function panel(page: Page): Promise<Shown[]> {
  return page.$$eval('#records .record', (items) =>
    items
      .map((item) => ({
        endpoint: (item as HTMLElement).dataset.endpoint!,
        title: item.querySelector('.title')!.textContent!,
        summary: JSON.parse(item.querySelector('.summary')!.textContent!),
        body: JSON.parse(item.querySelector('.body')!.textContent!),
      }))
      .reverse(),
  )
}

const byTitle = (a: Shown, b: Shown): number => `${a.endpoint} ${a.title}`.localeCompare(`${b.endpoint} ${b.title}`)

/** The buttons, top to bottom: the order the demo asks to click them in. */
const STORY = ['page', 'screen', 'identify', 'track', 'revenue', 'group', 'mparticle-login', 'mparticle-logout', 'shim', 'alias', 'reset', 'optOut', 'optIn']

/** Console errors and warnings, and uncaught page errors, from the moment the page opens. */
function watchConsole(page: Page): string[] {
  const problems: string[] = []
  page.on('console', (message) => {
    if (message.type() === 'error' || message.type() === 'warning') problems.push(`${message.type()}: ${message.text()}`)
  })
  page.on('pageerror', (error) => problems.push(`pageerror: ${error.message}`))
  return problems
}

/**
 * Runs the shim `curl` of `text` (shimCurl's form: a POST whose body is a
 * here-document) the way a shell would: the id and timestamp substituted,
 * the headers and body sent as written.
 */
async function runCurl(text: string): Promise<Response> {
  const [command, ...rest] = text.split('\n')
  expect(command).toMatch(/^curl -s (\S+\/mparticle) .* -d @- <<EOF$/)
  const url = /^curl -s (\S+)/.exec(command!)![1]!
  const headers = Object.fromEntries([...command!.matchAll(/-H '([^:]+): ([^']*)'/g)].map((m) => [m[1]!, m[2]!]))
  const now = Date.now()
  const body = rest
    .slice(0, rest.indexOf('EOF'))
    .join('\n')
    .replace('$(date +%s000)', String(now))
    .replace('$(date +%s)', String(Math.floor(now / 1000)))
  return fetch(url, { method: 'POST', headers, body })
}

// The MPIDs the demo's mParticle identity stand-in gives (fixed, so written out here).
const ANONYMOUS_MPID = '3393526427588049651'
const USER_42_MPID = '-2972693872691548146'
const LOGGED_OUT_MPID = '-6707351408850611756'

test('the demo page, clicked top to bottom: every button sends the records the panel shows, exactly, with nothing on the console', async ({ page, inbox }) => {
  // Thirteen buttons and twenty records: longer than one ordinary test.
  test.setTimeout(90_000)
  const logs: string[] = []
  const problems = watchConsole(page)
  const demo = await startDemo({ ports: FREE, env: {}, log: (line: string) => logs.push(line) })
  try {
    await page.setViewportSize({ width: 1280, height: 900 })
    await page.goto(demo.demo.url)
    // The story order: mParticle and the audience before alias, reset and consent.
    expect(await page.$$eval('#buttons button', (buttons) => buttons.map((b) => b.id.replace(/^call-/, '')))).toEqual(STORY)
    expect(await page.$$eval('#buttons button .step', (steps) => steps.map((s) => s.textContent))).toEqual(STORY.map((_, i) => String(i + 1)))
    // A browser asks for /favicon.ico once (the first page it opens): no 404 for it.
    expect((await fetch(`${demo.demo.url}favicon.ico`)).status).toBe(204)
    await expect(page.locator('#mode')).toHaveText(`Token demo-token · API host: the local collector ${demo.collector.url}`)
    // mParticle's first identity answer: the bridge's MPID waits in mixpanel-browser for identify().
    await expect(page.locator('#mpid')).toHaveText(ANONYMOUS_MPID)

    let total = 0
    /** Clicks a button and returns the records it added, sorted by endpoint and title. */
    const click = async (id: string, count: number): Promise<Shown[]> => {
      await page.click(`#call-${id}`)
      await expect(page.locator('#calls li').first().locator('.outcome')).not.toHaveText('…')
      total += count
      if (count === 0) await page.waitForTimeout(500)
      await expect(page.locator('#records .record')).toHaveCount(total)
      return (await panel(page)).slice(total - count).sort(byTitle)
    }

    const url = demo.demo.url
    const pageProps = { path: '/', referrer: '', search: '', title: 'mixpanel-device-mode demo', url }
    const browserProps = { $os: 'Linux', $browser: 'Chrome', $browser_version: expect.any(Number) }
    const traits = { email: 'ada@example.com', name: 'Ada Lovelace', plan: 'pro', tags: ['beta'], id: 'user-42', mp_name_tag: 'ada@example.com' }
    const device = expect.stringMatching(/^\$device:[0-9a-f-]{36}$/)

    const [loaded] = await click('page', 1)
    expect(loaded).toMatchObject({ endpoint: 'track', title: 'Loaded a Page' })
    expect(loaded!.summary).toEqual({ ...pageProps, section: 'intro', name: 'Getting Started', category: 'Docs' })
    expect(loaded!.body.properties).toMatchObject({ token: 'demo-token', distinct_id: device })
    const firstDevice = loaded!.body.properties.$device_id

    const [screen] = await click('screen', 1)
    expect(screen).toMatchObject({ endpoint: 'track', title: 'Loaded a Screen', summary: { ...pageProps, tab: 'feed', name: 'Home' } })

    const identify = await click('identify', 5)
    expect(identify.map((r) => [r.endpoint, r.title])).toEqual([
      ['engage', '$set on profile'],
      ['engage', '$set on profile'],
      ['engage', '$set_once on profile'],
      ['engage', '$union on profile'],
      ['track', '$identify'],
    ])
    const person = { $token: 'demo-token', $distinct_id: 'user-42', $device_id: firstDevice, $user_id: 'user-42' }
    // Separate requests: the two $set records may arrive in either order.
    const sets = identify.slice(0, 2).map((r) => r.body).sort((a, b) => Object.keys(a.$set).length - Object.keys(b.$set).length)
    expect(sets).toEqual([
      { ...person, $set: { ...browserProps, $mparticle_user_id: ANONYMOUS_MPID } },
      {
        ...person,
        $set: { ...browserProps, $email: 'ada@example.com', $first_name: 'Ada', $last_name: 'Lovelace', $name: 'Ada Lovelace', plan: 'pro', id: 'user-42' },
      },
    ])
    expect(identify[2]!.body).toEqual({ ...person, $set_once: { $initial_referrer: '$direct', $initial_referring_domain: '$direct' } })
    expect(identify[3]!.body).toEqual({ ...person, $union: { tags: ['beta'] } })
    expect(identify[4]!.summary).toEqual({ $anon_distinct_id: `$device:${firstDevice}` })
    expect(identify[4]!.body.properties.distinct_id).toBe('user-42')

    const [signedUp] = await click('track', 1)
    expect(signedUp).toMatchObject({ endpoint: 'track', title: 'Signed Up' })
    expect(signedUp!.summary).toEqual({ ...traits, plan: 'pro', source: 'demo' })

    const revenue = await click('revenue', 2)
    expect(revenue.map((r) => [r.endpoint, r.title])).toEqual([['engage', '$append on profile'], ['track', 'Order Completed']])
    expect(revenue[0]!.body).toEqual({ ...person, $append: { $transactions: { $amount: 42.5, $time: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) } } })
    expect(revenue[1]!.summary).toEqual({ ...traits, order_id: 'o-1001', revenue: 42.5, currency: 'USD' })

    const group = await click('group', 2)
    expect(group.map((r) => [r.endpoint, r.title])).toEqual([['engage', '$set on profile'], ['groups', '$set on group company_id = acme']])
    expect(group[0]!.body).toEqual({ ...person, $set: { ...browserProps, company_id: ['acme'] } })
    expect(group[1]!.body).toEqual({ $token: 'demo-token', $group_key: 'company_id', $group_id: 'acme', $set: { company_id: 'acme', name: 'Acme Inc', plan: 'enterprise' } })

    // mParticle identifies the same person: the bridge sends each new MPID to user-42's profile.
    for (const [button, mpid] of [['mparticle-login', USER_42_MPID], ['mparticle-logout', LOGGED_OUT_MPID]] as const) {
      const [set] = await click(button, 1)
      expect(set!.body).toEqual({ ...person, $set: { ...browserProps, $mparticle_user_id: mpid } })
      await expect(page.locator('#mpid')).toHaveText(mpid)
    }

    // mParticle's servers put user-42 in an audience; the shim writes it on the profile.
    const [joined] = await click('shim', 1)
    expect(joined!.body).toMatchObject({ $token: 'demo-token', $distinct_id: 'user-42', $set: { SegmentMembership: "'9001'", 'In Power Users': true } })
    await expect(page.locator('#calls li').first().locator('.outcome')).toHaveText('the shim accepted it: user-42 joins the audience; its engage $set follows in the panel')
    await expect(page.locator('#call-shim code')).toHaveText("mParticle → shim: user-42 leaves audience 9001 'Power Users'")

    // mixpanel-browser's alias() identifies as the alias once the alias event is sent.
    await expect(page.locator('#alias-note')).toBeHidden()
    const alias = await click('alias', 2)
    expect(alias.map((r) => r.title)).toEqual(['$create_alias', '$identify'])
    expect(alias[0]!.summary).toEqual({ ...traits, company_id: ['acme'], alias: 'ada-lovelace' })
    expect(alias[0]!.body.properties.distinct_id).toBe('user-42')
    expect(alias[1]!.summary).toEqual({ ...traits, company_id: ['acme'], $anon_distinct_id: 'user-42' })
    expect(alias[1]!.body.properties.distinct_id).toBe('ada-lovelace')
    // mixpanel-browser 2.83 keeps the distinct id and remembers the alias (its `__alias` and `$user_id`);
    // the state line shows both ids and says why they differ.
    await expect(page.locator('#distinct-id')).toHaveText('user-42')
    await expect(page.locator('#user-id')).toHaveText('ada-lovelace')
    await expect(page.locator('#alias-note')).toHaveText(
      "alias('ada-lovelace') sent $create_alias, asking Mixpanel to treat ada-lovelace and user-42 as one user. user().id() is the new id; mixpanel-browser keeps the distinct id user-42 for the events that follow.",
    )

    // reset: nothing is sent, and the next event is an anonymous visitor's.
    await click('reset', 0)
    await expect(page.locator('#distinct-id')).toHaveText(/^\$device:/)
    await expect(page.locator('#user-id')).toHaveText('null')
    await expect(page.locator('#alias-note')).toBeHidden()
    const [afterReset] = await click('page', 1)
    expect(afterReset!.summary).toEqual({ ...pageProps, section: 'intro', name: 'Getting Started', category: 'Docs' })
    expect(afterReset!.body.properties.distinct_id).toMatch(/^\$device:/)
    expect(afterReset!.body.properties.$device_id).not.toBe(firstDevice)

    await click('optOut', 0)
    await expect(page.locator('#opted')).toHaveText('opted out')
    // Calls while opted out send nothing, and mixpanel-browser's "You are opted out" warnings stay off the console.
    await click('track', 0)
    await expect(page.locator('#calls li').first().locator('.outcome')).toHaveText('opted out: nothing leaves the page')
    await click('page', 0)
    const [optIn] = await click('optIn', 1)
    expect(optIn).toMatchObject({ endpoint: 'track', title: '$opt_in', summary: {} })
    const [anonymous] = await click('track', 1)
    expect(anonymous).toMatchObject({ title: 'Signed Up', summary: { plan: 'pro', source: 'demo' } })
    expect(Object.keys(anonymous!.summary)).toEqual(['plan', 'source'])

    // The panel shows exactly what the collector decoded: all from the page but the shim's one.
    const shown = await panel(page)
    expect(shown.map(({ endpoint, body }) => ({ endpoint, body }))).toEqual(demo.collector.records.map(({ endpoint, body }) => ({ endpoint, body })))
    expect(demo.collector.records.filter((r) => r.origin === null).map((r) => r.body.$set)).toEqual([{ SegmentMembership: "'9001'", 'In Power Users': true }])
    expect(demo.collector.records.filter((r) => r.origin !== null).every((r) => r.origin === new URL(url).origin)).toBe(true)
    expect(shown.length).toBe(20)
    // Nothing went to Mixpanel's own hosts, and nothing went wrong: no console error (a favicon 404
    // would be one) and no warning.
    expect(inbox.requests).toEqual([])
    expect(logs).toEqual([])
    expect(problems).toEqual([])
  } finally {
    await demo.close()
  }
})

test('mParticle login and logout in the demo: the panel shows the profile $set of each new MPID, and nothing goes to mParticle', async ({ page, context, inbox }) => {
  // mParticle's own hosts, watched here: the page must use the demo site's stand-in instead.
  const toMParticle: string[] = []
  await context.route(/^https?:\/\/([^/]*\.)?mparticle\.com([:/]|$)/, (route) => {
    toMParticle.push(route.request().url())
    return route.abort()
  })
  const identity: string[] = []
  page.on('request', (request) => {
    const path = new URL(request.url()).pathname
    if (path.startsWith('/mparticle/identity/')) identity.push(`${request.method()} ${path}`)
  })
  const demo = await startDemo({ ports: FREE, env: {}, log: () => {} })
  try {
    await page.setViewportSize({ width: 1280, height: 1000 })
    await page.goto(demo.demo.url)
    await expect(page.locator('#mpid')).toHaveText(ANONYMOUS_MPID)
    await expect(page.locator('#call-mparticle-login')).toHaveText(
      "7mParticle loginmParticle.Identity.login({ userIdentities: { customerid: 'user-42', email: 'ada@example.com' } })",
    )
    await expect(page.locator('#call-mparticle-logout')).toHaveText('8mParticle logoutmParticle.Identity.logout({})')

    const person = { $token: 'demo-token', $distinct_id: 'user-42', $user_id: 'user-42', $device_id: expect.any(String) }
    const mpidSet = (mpid: string) => ({ ...person, $set: { $os: 'Linux', $browser: 'Chrome', $browser_version: expect.any(Number), $mparticle_user_id: mpid } })
    /** The collector's /engage records that set $mparticle_user_id, in arrival order. */
    const mpidRecords = () => demo.collector.records.filter((r) => r.endpoint === 'engage' && '$mparticle_user_id' in (r.body.$set ?? {})).map((r) => r.body)

    await page.click('#call-identify')
    await expect(page.locator('#records .record')).toHaveCount(5)
    expect(mpidRecords()).toEqual([mpidSet(ANONYMOUS_MPID)])

    for (const [button, mpid, count] of [['login', USER_42_MPID, 6], ['logout', LOGGED_OUT_MPID, 7]] as const) {
      await page.click(`#call-mparticle-${button}`)
      await expect(page.locator('#calls li').first()).toHaveText(
        (button === 'login' ? "mParticle.Identity.login({ userIdentities: { customerid: 'user-42', email: 'ada@example.com' } })" : 'mParticle.Identity.logout({})') +
          `mParticle MPID ${mpid}`,
      )
      await expect(page.locator('#records .record')).toHaveCount(count)
      await expect(page.locator('#mpid')).toHaveText(mpid)
      // The newest record on the panel: user-42's profile gets the new MPID.
      const newest = (await panel(page)).at(-1)!
      expect(newest).toEqual({ endpoint: 'engage', title: '$set on profile', summary: { $os: 'Linux', $browser: 'Chrome', $browser_version: expect.any(Number), $mparticle_user_id: mpid }, body: mpidSet(mpid) })
      await expect(page.locator('#records .record').first().locator('.who')).toHaveText('user-42')
      // docs/demo.png: the panel right after the mParticle login.
      if (button === 'login' && process.env.UPDATE_SCREENSHOT === '1') await page.screenshot({ path: `${ROOT}docs/demo.png` })
    }
    expect(mpidRecords()).toEqual([mpidSet(ANONYMOUS_MPID), mpidSet(USER_42_MPID), mpidSet(LOGGED_OUT_MPID)])
    expect([ANONYMOUS_MPID, USER_42_MPID, LOGGED_OUT_MPID]).toEqual([demoMpid('anonymous'), demoMpid('customerid:user-42'), demoMpid('logged-out')])

    // The panel shows exactly what the collector decoded.
    expect((await panel(page)).map(({ endpoint, body }) => ({ endpoint, body }))).toEqual(demo.collector.records.map(({ endpoint, body }) => ({ endpoint, body })))
    expect(identity).toEqual(['POST /mparticle/identity/v1/identify', 'POST /mparticle/identity/v1/login', 'POST /mparticle/identity/v1/logout'])
    expect(toMParticle).toEqual([])
    expect(inbox.requests).toEqual([])
  } finally {
    await demo.close()
  }
})

test('the demo’s mParticle identity stand-in answers as mParticle does, with an MPID per customer id', async () => {
  const demo = await startDemo({ ports: FREE, env: {}, shim: false, log: () => {} })
  try {
    const call = async (path: string, body: unknown) => {
      const res = await fetch(`${demo.demo.url}mparticle/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      })
      return [res.status, res.status === 200 ? await res.json() : await res.text()]
    }
    const user = (mpid: string, loggedIn: boolean) => [200, { context: null, mpid, is_logged_in: loggedIn, is_ephemeral: false, matched_identities: {} }]
    const das = { device_application_stamp: 'd-1' }
    expect(await call('identity/v1/identify', { known_identities: das })).toEqual(user(ANONYMOUS_MPID, false))
    expect(await call('identity/v1/login', { previous_mpid: ANONYMOUS_MPID, known_identities: { ...das, customerid: 'user-42', email: 'ada@example.com' } })).toEqual(user(USER_42_MPID, true))
    expect(await call('identity/v1/login', { known_identities: { customerid: 'user-7' } })).toEqual(user(demoMpid('customerid:user-7'), true))
    expect(demoMpid('customerid:user-7')).not.toBe(USER_42_MPID)
    expect(await call('identity/v1/logout', { previous_mpid: USER_42_MPID, known_identities: das })).toEqual(user(LOGGED_OUT_MPID, false))
    // A reload after logout: identify without a customer id keeps the current anonymous user.
    expect(await call('identity/v1/identify', { previous_mpid: LOGGED_OUT_MPID, known_identities: das })).toEqual(user(LOGGED_OUT_MPID, false))
    expect(await call('identity/v1/identify', { previous_mpid: LOGGED_OUT_MPID, known_identities: { ...das, customerid: 'user-42' } })).toEqual(user(USER_42_MPID, true))
    expect(await call(`identity/v1/${USER_42_MPID}/modify`, { identity_changes: [] })).toEqual(user(USER_42_MPID, false))
    // Event batches are accepted and dropped; anything else is not there.
    expect(await call('webevents/v3/JS/demo-mparticle-key/events', { events: [] })).toEqual([202, ''])
    expect(await call('identity/v1/login', '{not json')).toEqual([400, '{"errors":[{"code":"bad_request","message":"the body is not a JSON object"}]}'])
    expect(await call('identity/v1/login', '"a string"')).toEqual([400, '{"errors":[{"code":"bad_request","message":"the body is not a JSON object"}]}'])
    expect((await fetch(`${demo.demo.url}mparticle/identity/v1/login`)).status).toBe(404)
    const sdk = await fetch(`${demo.demo.url}mparticle/mparticle.js`)
    expect([sdk.status, sdk.headers.get('content-type')]).toEqual([200, 'text/javascript; charset=utf-8'])
    expect(sdk.headers.get('content-security-policy')).toMatch(/^default-src 'self'; script-src 'self';/)
    expect(await sdk.text()).toContain('identity.mparticle.com/v1/')
  } finally {
    await demo.close()
  }
})

test('the audience shim button follows what Mixpanel received, also after the README’s curl, and each click sends the shim’s engage $set', async ({ page, inbox }) => {
  // The README shows the same commands npm start prints, for the default ports.
  const readme = readFileSync(`${ROOT}README.md`, 'utf8')
  expect(readme).toContain(`\n${shimCurl({ shimUrl: 'http://127.0.0.1:8787', collectorUrl: 'http://127.0.0.1:8090' })}\n`)
  const demo = await startDemo({ ports: FREE, env: {}, log: () => {} })
  try {
    expect(demo.shim, `the shim did not start: ${demo.shimUnavailable}`).not.toBeNull()
    await page.goto(demo.demo.url)
    await expect(page.locator('#call-shim code')).toHaveText("mParticle → shim: user-42 joins audience 9001 'Power Users'")

    // The README's curl, pointed at this demo's shim: it needs the demo's secret, which it carries.
    const answer = await runCurl(shimCurl({ shimUrl: demo.shim!.url, collectorUrl: demo.collector.url }))
    expect(answer.status).toBe(200)
    expect(await answer.json()).toMatchObject({ type: 'audience_membership_change_response' })
    await expect(page.locator('#records .record')).toHaveCount(1)
    // The page learns it from the server: the next click is a leave, not a join that would change nothing.
    await expect(page.locator('#call-shim code')).toHaveText("mParticle → shim: user-42 leaves audience 9001 'Power Users'")

    await page.click('#call-shim')
    await expect(page.locator('#calls li').first().locator('.outcome')).toHaveText('the shim accepted it: user-42 leaves the audience; its engage $set follows in the panel')
    await expect(page.locator('#records .record')).toHaveCount(2)
    await expect(page.locator('#call-shim code')).toHaveText("mParticle → shim: user-42 joins audience 9001 'Power Users'")
    await page.click('#call-shim')
    await expect(page.locator('#records .record')).toHaveCount(3)

    // A reload keeps the state: it lives on the server.
    await page.reload()
    await expect(page.locator('#records .record')).toHaveCount(3)
    await expect(page.locator('#call-shim code')).toHaveText("mParticle → shim: user-42 leaves audience 9001 'Power Users'")

    const [curled, left, joined] = await panel(page)
    // The shim's own payload details ($ip, $ignore_time) are the shim tests' business.
    for (const record of [curled, left, joined]) expect(record!.body).toMatchObject({ $token: 'demo-token', $distinct_id: 'user-42' })
    expect([curled, left, joined].map((r) => r!.body.$set)).toEqual([
      { SegmentMembership: "'9001'", 'In Power Users': true },
      { SegmentMembership: '', 'In Power Users': false },
      { SegmentMembership: "'9001'", 'In Power Users': true },
    ])
    expect(await page.locator('#records .record .source').allTextContents()).toEqual(['server (shim)', 'server (shim)', 'server (shim)'])
    expect(demo.collector.records.map((r) => r.origin)).toEqual([null, null, null])
    expect(inbox.requests).toEqual([])
  } finally {
    await demo.close()
  }
})

test('with MIXPANEL_TOKEN and no DEMO_API_HOST the page talks to Mixpanel itself', async ({ page, inbox }) => {
  const demo = await startDemo({ ports: FREE, env: { MIXPANEL_TOKEN: 'my-project-token' }, shim: false, log: () => {} })
  try {
    await page.goto(demo.demo.url)
    await expect(page.locator('#mode')).toHaveText('Token my-project-token · real Mixpanel (https://api-js.mixpanel.com): see your project’s Events page')
    await page.click('#call-track')
    // Mixpanel's hosts are answered by the test's inbox: nothing leaves the machine.
    await inbox.until((i) => i.events('Signed Up').length === 1, 15_000)
    expect(inbox.records[0]).toMatchObject({ host: 'api-js.mixpanel.com', endpoint: 'track' })
    expect(inbox.events('Signed Up')[0]!.properties).toMatchObject({ token: 'my-project-token', plan: 'pro', source: 'demo' })
    expect(demo.collector.records).toEqual([])
    await expect(page.locator('#panel-note')).toContainText('not shown here')
  } finally {
    await demo.close()
  }
})

test('the collector speaks the Mixpanel ingestion protocol', async () => {
  const collector = await startCollector({ port: 0 })
  try {
    const form = (value: unknown, base64 = false): string => {
      const json = JSON.stringify(value)
      return `data=${encodeURIComponent(base64 ? Buffer.from(json).toString('base64') : json)}`
    }
    const post = (path: string, body: string, headers: Record<string, string> = {}) =>
      fetch(`${collector.url}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers } })

    // mixpanel-browser: trailing slash, query string, JSON in data=, verbose answer, credentials CORS.
    let res = await post('/track/?verbose=1&ip=1&_=1700000000000', form({ event: 'A', properties: { token: 't', n: 1 } }), { origin: 'http://127.0.0.1:1234' })
    expect(await res.text()).toBe('{"status":1,"error":null}')
    expect(res.headers.get('access-control-allow-origin')).toBe('http://127.0.0.1:1234')
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    // A batch in base64, with an emoji written as CESU-8 by mixpanel-browser's encoder.
    const cesu = Buffer.from([0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]).toString('latin1')
    const batch = `[{"$token":"t","$distinct_id":"u","$set":{"mood":"${cesu}"}},{"$token":"t","$distinct_id":"u","$union":{"tags":["x"]}}]`
    res = await post('/engage', `data=${encodeURIComponent(Buffer.from(batch, 'latin1').toString('base64'))}`)
    expect(await res.text()).toBe('1')
    // A server client: raw JSON array (what the shim sends).
    res = await post('/groups?verbose=1', JSON.stringify([{ $token: 't', $group_key: 'k', $group_id: 'g', $set: { a: 1 } }]), { 'content-type': 'application/json' })
    expect(await res.json()).toEqual({ status: 1, error: null })
    // GET with data in the query (mixpanel-browser's image/GET fallback).
    res = await fetch(`${collector.url}/track?data=${encodeURIComponent(Buffer.from(JSON.stringify({ event: 'B', properties: {} })).toString('base64'))}&ip=1`)
    expect(await res.text()).toBe('1')
    // Undecodable: Mixpanel's 0, and nothing is recorded.
    res = await post('/track?verbose=1', 'data=%%%')
    expect(await res.json()).toMatchObject({ status: 0 })
    res = await post('/track', 'nothing=here')
    expect(await res.text()).toBe('0')

    expect(collector.records.map((r: Rec) => [r.id, r.endpoint, r.origin, r.body])).toEqual([
      [1, 'track', 'http://127.0.0.1:1234', { event: 'A', properties: { token: 't', n: 1 } }],
      [2, 'engage', null, { $token: 't', $distinct_id: 'u', $set: { mood: '😀' } }],
      [3, 'engage', null, { $token: 't', $distinct_id: 'u', $union: { tags: ['x'] } }],
      [4, 'groups', null, { $token: 't', $group_key: 'k', $group_id: 'g', $set: { a: 1 } }],
      [5, 'track', null, { event: 'B', properties: {} }],
    ])

    // CORS preflight.
    res = await fetch(`${collector.url}/track/`, {
      method: 'OPTIONS',
      headers: { origin: 'http://127.0.0.1:1234', 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
    })
    expect(res.status).toBe(204)
    expect(Object.fromEntries(['access-control-allow-origin', 'access-control-allow-credentials', 'access-control-allow-headers'].map((h) => [h, res.headers.get(h)]))).toEqual({
      'access-control-allow-origin': 'http://127.0.0.1:1234',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'content-type',
    })

    // The records API: incremental, and clearable.
    res = await fetch(`${collector.url}/records?since=3`)
    expect(((await res.json()) as Rec).records.map((r: Rec) => r.id)).toEqual([4, 5])
    expect((await fetch(`${collector.url}/records`, { method: 'DELETE' })).status).toBe(200)
    expect(await (await fetch(`${collector.url}/records`)).json()).toEqual({ records: [], last: 5 })
    expect((await fetch(`${collector.url}/decide`)).status).toBe(404)
    expect(decodePayload('data=%7B%22event%22%3A%22C%22%7D')).toEqual([{ event: 'C' }])
  } finally {
    await collector.close()
  }
})

test('busy ports: the demo says which one was taken and uses a free one', async () => {
  const blocker: Server = createServer()
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve))
  const busy = (blocker.address() as { port: number }).port
  const logs: string[] = []
  const demo = await startDemo({ ports: { demo: busy, collector: busy, shim: busy }, env: {}, log: (line: string) => logs.push(line) })
  try {
    expect(logs).toEqual([
      expect.stringMatching(new RegExp(`^collector: port ${busy} is not available \\(EADDRINUSE: .*\\); using a free port instead$`)),
      expect.stringMatching(new RegExp(`^shim: port ${busy} is not available \\(EADDRINUSE: .*\\); using a free port instead$`)),
      expect.stringMatching(new RegExp(`^demo site: port ${busy} is not available \\(EADDRINUSE: .*\\); using a free port instead$`)),
    ])
    for (const url of [demo.demo.url, `${demo.collector.url}/records`, `${demo.shim!.url}/healthz`]) {
      expect(new URL(url).port).not.toBe(String(busy))
      expect((await fetch(url)).status).toBe(200)
    }
  } finally {
    await demo.close()
    blocker.close()
  }
})

test('npm start prints the URLs and Ctrl-C stops everything', async () => {
  const env: Record<string, string> = { ...(process.env as Record<string, string>), DEMO_PORT: '0', COLLECTOR_PORT: '0', SHIM_PORT: '0', DEMO_SKIP_BUILD: '1' }
  delete env.MIXPANEL_TOKEN
  delete env.DEMO_API_HOST
  const child = spawn(process.execPath, ['demo/start.mjs'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (chunk) => (out += chunk))
  child.stderr.on('data', (chunk) => (out += chunk))
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))
  try {
    await expect.poll(() => out, { timeout: 15_000 }).toContain('Ctrl-C stops everything')
    const site = out.match(/Demo site +(http:\/\/127\.0\.0\.1:\d+\/)/)![1]!
    const collector = out.match(/Collector +(http:\/\/127\.0\.0\.1:\d+)/)![1]!
    const shim = out.match(/Audience shim +(http:\/\/127\.0\.0\.1:\d+)/)![1]!
    expect(await (await fetch(site)).text()).toContain('<script src="/dist/mixpanel-device-mode.iife.js"></script>')
    expect(out).toContain(`mParticle        the Web SDK runs on the page; its identity service is played by the demo site (${site}mparticle/identity/v1/), nothing goes to mParticle`)
    // It prints the README's commands with its own addresses, and they work as printed.
    const printed = shimCurl({ shimUrl: shim, collectorUrl: collector })
    expect(out).toContain(`\n${printed}\n`)
    const answer = await runCurl(printed)
    expect(answer.status).toBe(200)
    await expect.poll(async () => ((await (await fetch(`${collector}/records`)).json()) as Rec).records.length, { timeout: 10_000 }).toBe(1)
    await expect.poll(() => out).toContain(`shim → /engage  $set {"SegmentMembership":"'9001'","In Power Users":true}  (profile user-42)`)

    child.kill('SIGINT')
    expect(await exited).toBe(0)
    expect(out).toContain('SIGINT: stopping the demo')
    expect(out).toContain('Stopped.')
    await expect(fetch(site)).rejects.toThrow()
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL')
  }
})
