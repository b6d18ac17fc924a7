// The script-tag build: `window.MixpanelDeviceMode`.
export { createAnalytics } from './facade'
export { mixpanelDestination } from './plugin'
export { version } from './version'
