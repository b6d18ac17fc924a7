// The same SPA on the script-tag build (window.MixpanelDeviceMode), for comparison.
import { SETTINGS, startApp, type AppAnalytics } from './app'

declare const MixpanelDeviceMode: { createAnalytics(settings: typeof SETTINGS): AppAnalytics }

const analytics = MixpanelDeviceMode.createAnalytics(SETTINGS)
;(window as unknown as { analytics: unknown }).analytics = analytics
startApp(analytics, document.getElementById('app')!)
