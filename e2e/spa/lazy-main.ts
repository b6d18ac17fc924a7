// The ESM build with settings (and an mParticle stand-in) chosen by the test
// page, for e2e/esm-spa.spec.ts's test of the lazy chunks.
import { createAnalytics } from '../../dist/index.js'

const w = window as unknown as { SETTINGS: Parameters<typeof createAnalytics>[0]; analytics: unknown }
w.analytics = createAnalytics(w.SETTINGS)
