// The demo page: one button per analytics.js call, and a live panel with the
// records the Mixpanel API receives (decoded by the local collector).
;(function () {
  'use strict'
  var config = window.DEMO_CONFIG
  var $ = function (id) {
    return document.getElementById(id)
  }

  // mParticle's Web SDK, as a site with both SDKs has it, but offline: every
  // endpoint is a path of this demo site, whose server plays mParticle's
  // identity service (the CSP allows no other host). No config request.
  var mpSdk = config.mparticle && window.mParticle
  if (mpSdk) {
    var base = location.host + config.mparticle.base
    mpSdk.init(config.mparticle.apiKey, {
      isDevelopmentMode: true,
      // Without one the SDK warns on every load; it also names the SDK's storage.
      workspaceToken: 'demo-workspace',
      requestConfig: false,
      // The demo site is plain http on 127.0.0.1; the SDK would use https:// otherwise.
      forceHttps: false,
      identityUrl: base + 'identity/v1/',
      aliasUrl: base + 'webevents/v1/identity/',
      v1SecureServiceUrl: base + 'webevents/v1/JS/',
      v2SecureServiceUrl: base + 'webevents/v2/JS/',
      v3SecureServiceUrl: base + 'webevents/v3/JS/',
      configUrl: base + 'tags/JS/v2/',
      userAudienceUrl: base + 'audience/v1/',
      // Answers come after the integration below exists; the info line shows the MPID.
      identityCallback: function () {
        if (analytics) showState()
      },
    })
  }

  // The integration, as a site would set it up with the script tag. Its
  // mParticle bridge (setting `mparticle`, on by default) finds window.mParticle.
  var settings = {
    token: config.token,
    groupIdentifierTraits: ['company_id'],
    debug: true,
  }
  if (config.apiHost) settings.apiHost = config.apiHost
  // `debug: true` explains this integration's decisions on the console; it
  // would also turn on mixpanel-browser's own logging, which logs every request
  // and several "You are opted out" warnings per call while opted out.
  // (No batching setting: the delivery queue sends each record at once, docs/delivery.md.)
  settings.mixpanelConfig = { debug: false }
  var analytics = MixpanelDeviceMode.createAnalytics(settings)
  window.analytics = analytics

  // Each button shows the exact call it makes. Their order tells a story: a
  // visitor reads pages, signs up and buys as user-42, joins a company; mParticle
  // logs the same person in and out (the bridge sends each new MPID to user-42's
  // profile); mParticle's servers put them in an audience (through the shim); an
  // alias merges a second id; then reset starts a new anonymous visitor, and
  // consent is withdrawn and given again.
  var CALLS = [
    { id: 'page', code: "analytics.page('Docs', 'Getting Started', { section: 'intro' })",
      run: function () { return analytics.page('Docs', 'Getting Started', { section: 'intro' }) } },
    { id: 'screen', code: "analytics.screen('Home', { tab: 'feed' })",
      run: function () { return analytics.screen('Home', { tab: 'feed' }) } },
    { id: 'identify', code: "analytics.identify('user-42', { email: 'ada@example.com', name: 'Ada Lovelace', plan: 'pro', tags: ['beta'] })",
      run: function () { return analytics.identify('user-42', { email: 'ada@example.com', name: 'Ada Lovelace', plan: 'pro', tags: ['beta'] }) } },
    { id: 'track', code: "analytics.track('Signed Up', { plan: 'pro', source: 'demo' })",
      run: function () { return analytics.track('Signed Up', { plan: 'pro', source: 'demo' }) } },
    { id: 'revenue', code: "analytics.track('Order Completed', { order_id: 'o-1001', revenue: 42.5, currency: 'USD' })",
      run: function () { return analytics.track('Order Completed', { order_id: 'o-1001', revenue: 42.5, currency: 'USD' }) } },
    { id: 'group', code: "analytics.group('acme', { company_id: 'acme', name: 'Acme Inc', plan: 'enterprise' })",
      run: function () { return analytics.group('acme', { company_id: 'acme', name: 'Acme Inc', plan: 'enterprise' }) } },
  ]
  if (mpSdk) {
    // mParticle identity calls: the bridge sets $mparticle_user_id to the new MPID.
    var identityCall = function (method, request) {
      return new Promise(function (resolve, reject) {
        mParticle.Identity[method](request, function (result) {
          var user = result.getUser()
          if (result.httpCode !== 200) reject(new Error('mParticle answered ' + result.httpCode))
          else resolve('mParticle MPID ' + (user ? user.getMPID() : '(none)'))
        })
      })
    }
    CALLS.push(
      { id: 'mparticle-login', label: 'mParticle login', vendor: 'mparticle',
        code: "mParticle.Identity.login({ userIdentities: { customerid: 'user-42', email: 'ada@example.com' } })",
        run: function () { return identityCall('login', { userIdentities: { customerid: 'user-42', email: 'ada@example.com' } }) } },
      { id: 'mparticle-logout', label: 'mParticle logout', vendor: 'mparticle',
        code: 'mParticle.Identity.logout({})',
        run: function () { return identityCall('logout', {}) } },
    )
  }
  if (config.shim) {
    // mParticle's side of the audience sync, played by the demo server. The
    // server decides join or leave from what Mixpanel's profile says (so a
    // change made with the printed curl counts), and the label follows it.
    var member = false
    var shimCall = { id: 'shim', server: true, code: '',
      run: function () {
        return fetch('/api/shim/audience', {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ userId: 'user-42', audienceId: 9001, audienceName: 'Power Users' }),
        }).then(function (res) {
          if (!res.ok) throw new Error('the shim answered ' + res.status)
          return res.json()
        }).then(function (answer) {
          member = answer.member
          shimCall.describe()
          return 'the shim accepted it: user-42 ' + (answer.action === 'add' ? 'joins' : 'leaves') + ' the audience; its engage $set follows in the panel'
        })
      },
      describe: function () {
        shimCall.code = 'mParticle → shim: user-42 ' + (member ? 'leaves' : 'joins') + " audience 9001 'Power Users'"
        var code = document.querySelector('#call-shim code')
        if (code) code.textContent = code.parentElement.title = shimCall.code
      },
      refresh: function () {
        return fetch('/api/shim/audience?userId=user-42&audienceName=Power%20Users')
          .then(function (res) { return res.json() })
          .then(function (answer) {
            member = answer.member
            shimCall.describe()
          })
          .catch(function () {})
      } }
    shimCall.describe()
    shimCall.refresh()
    CALLS.push(shimCall)
  }
  CALLS.push(
    { id: 'alias', code: "analytics.alias('ada-lovelace')",
      run: function () { return analytics.alias('ada-lovelace') } },
    { id: 'reset', code: 'analytics.reset()',
      run: function () { return analytics.reset() } },
    { id: 'optOut', code: 'analytics.optOut()',
      run: function () { return analytics.optOut() } },
    { id: 'optIn', code: 'analytics.optIn()',
      run: function () { return analytics.optIn() } },
  )

  var buttons = $('buttons')
  CALLS.forEach(function (call) {
    var button = document.createElement('button')
    button.type = 'button'
    button.id = 'call-' + call.id
    button.className = call.server ? 'call server' : call.vendor ? 'call ' + call.vendor : 'call'
    button.title = call.code
    var name = document.createElement('strong')
    var step = document.createElement('span')
    step.className = 'step'
    step.textContent = String(buttons.children.length + 1)
    name.append(step, call.server ? 'audience shim' : call.label || call.id)
    var code = document.createElement('code')
    code.textContent = call.code
    button.append(name, code)
    button.addEventListener('click', function () {
      perform(call)
    })
    buttons.append(button)
  })

  function perform(call) {
    var item = document.createElement('li')
    var code = document.createElement('code')
    code.textContent = call.code
    var outcome = document.createElement('span')
    outcome.className = 'outcome'
    outcome.textContent = '…'
    item.append(code, outcome)
    $('calls').prepend(item)
    var optedOut = !call.server && call.id !== 'optIn' && isOptedOut()
    Promise.resolve()
      .then(call.run)
      .then(function (said) {
        outcome.textContent = optedOut ? 'opted out: nothing leaves the page' : call.server || call.vendor ? said : 'handed to mixpanel-browser'
        if (optedOut) item.className = 'muted'
      }, function (error) {
        outcome.textContent = 'failed: ' + error.message
        item.className = 'error'
      })
      .then(showState)
  }

  function isOptedOut() {
    var mp = analytics.mixpanel
    try {
      return !!(mp && mp.has_opted_out_tracking())
    } catch (e) {
      return false
    }
  }

  function showState() {
    var mp = analytics.mixpanel
    var distinctId = mp ? mp.get_distinct_id() : null
    var userId = analytics.user().id()
    $('distinct-id').textContent = mp ? distinctId : '(mixpanel-browser is not running)'
    $('user-id').textContent = userId === null ? 'null' : userId
    $('opted').textContent = isOptedOut() ? 'opted out' : 'on'
    $('mpid').textContent = currentMpid()
    // After alias() the two differ: say why rather than leave it unexplained.
    var note = $('alias-note')
    if (userId !== null && distinctId !== null && userId !== distinctId) {
      note.textContent = 'alias(\'' + userId + '\') sent $create_alias, asking Mixpanel to treat ' + userId + ' and ' + distinctId +
        ' as one user. user().id() is the new id; mixpanel-browser keeps the distinct id ' + distinctId + ' for the events that follow.'
      note.hidden = false
    } else {
      note.hidden = true
    }
  }

  function currentMpid() {
    if (!mpSdk) return '(mParticle is not on the page)'
    try {
      var user = mParticle.Identity.getCurrentUser()
      return user ? user.getMPID() : '(waiting for mParticle identity)'
    } catch (e) {
      return '(waiting for mParticle identity)'
    }
  }

  // Where the records go, and what the panel can show.
  var where = config.apiHost || 'https://api-js.mixpanel.com'
  $('mode').textContent =
    config.mode === 'collector'
      ? 'Token ' + config.token + ' · API host: the local collector ' + config.collector
      : config.mode === 'proxy'
        ? 'Token ' + config.token + ' · API host: ' + where + ' (DEMO_API_HOST)'
        : 'Token ' + config.token + ' · real Mixpanel (' + where + '): see your project’s Events page'
  var note = []
  if (config.mode !== 'collector') note.push('The page sends to ' + where + ', so its records are not shown here; the shim’s records still are.')
  if (!config.shim && config.shimUnavailable) note.push('Audience shim unavailable: ' + config.shimUnavailable + '.')
  if (!mpSdk) note.push('mParticle unavailable: ' + (config.mparticleUnavailable || 'the mParticle Web SDK did not load') + '.')
  $('panel-note').textContent = note.join(' ')

  // The live panel: polls the collector for records after the last one shown.
  var last = 0
  var AUTOMATIC = [
    '$os', '$browser', '$browser_version', '$current_url', '$screen_height', '$screen_width', 'mp_lib', '$lib_version',
    '$insert_id', 'time', 'distinct_id', '$device_id', '$user_id', '$initial_referrer', '$initial_referring_domain',
    'token', '$referrer', '$referring_domain', 'mp_sent_by_lib_version', '$had_persisted_distinct_id',
  ]
  var OPERATIONS = ['$set', '$set_once', '$union', '$append', '$add', '$unset', '$remove', '$delete']

  function poll() {
    fetch(config.collector + '/records?since=' + last)
      .then(function (res) {
        return res.json()
      })
      .then(function (data) {
        if (data.last < last) {
          // The collector was restarted or cleared elsewhere: start over.
          last = 0
          $('records').textContent = ''
          return
        }
        data.records.forEach(show)
        showState()
      })
      .catch(function () {})
      .then(function () {
        setTimeout(poll, 400)
      })
  }

  function show(record) {
    last = Math.max(last, record.id)
    var body = record.body
    var item = document.createElement('li')
    item.className = 'record ' + record.endpoint
    item.dataset.id = String(record.id)
    item.dataset.endpoint = record.endpoint
    item.dataset.source = record.origin ? 'browser' : 'server'

    var head = document.createElement('div')
    head.className = 'head'
    var badge = document.createElement('span')
    badge.className = 'badge'
    badge.textContent = '/' + record.endpoint
    var title = document.createElement('span')
    title.className = 'title'
    var who = document.createElement('span')
    who.className = 'who'
    var summary
    if (record.endpoint === 'track' || record.endpoint === 'import') {
      var props = body.properties || {}
      title.textContent = body.event
      item.dataset.event = body.event
      who.textContent = props.distinct_id || ''
      summary = {}
      var hidden = 0
      Object.keys(props).forEach(function (key) {
        if (AUTOMATIC.indexOf(key) === -1) summary[key] = props[key]
        else hidden += 1
      })
      if (hidden) who.textContent += ' · +' + hidden + ' automatic properties'
    } else {
      var op = OPERATIONS.filter(function (key) {
        return key in body
      })[0]
      item.dataset.operation = op || ''
      title.textContent = (op || 'update') + (record.endpoint === 'groups' ? ' on group ' + body.$group_key + ' = ' + body.$group_id : ' on profile')
      who.textContent = record.endpoint === 'groups' ? '' : body.$distinct_id || ''
      summary = op ? body[op] : body
    }
    var source = document.createElement('span')
    source.className = 'source'
    source.textContent = record.origin ? 'browser' : 'server (shim)'
    if (!record.origin && shimCall) shimCall.refresh()
    head.append(badge, title, who, source)

    var brief = document.createElement('pre')
    brief.className = 'summary'
    brief.textContent = JSON.stringify(summary, null, 2)

    var details = document.createElement('details')
    var label = document.createElement('summary')
    label.textContent = 'full decoded record'
    var full = document.createElement('pre')
    full.className = 'body'
    full.textContent = JSON.stringify(body, null, 2)
    details.append(label, full)

    item.append(head, brief, details)
    $('records').prepend(item)
    $('empty').hidden = true
    $('count').textContent = String($('records').children.length)
  }

  $('clear').addEventListener('click', function () {
    fetch(config.collector + '/records', { method: 'DELETE' }).catch(function () {})
    $('records').textContent = ''
    $('count').textContent = '0'
    $('empty').hidden = false
  })

  analytics.ready(showState)
  poll()
})()
