// The SPA on the ESM build, as a bundler user gets it.
import { createAnalytics } from '../../dist/index.js'
import { SETTINGS, startApp } from './app'

const analytics = createAnalytics(SETTINGS)
;(window as unknown as { analytics: unknown }).analytics = analytics
startApp(analytics, document.getElementById('app')!)
