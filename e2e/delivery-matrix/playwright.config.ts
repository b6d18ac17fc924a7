import { defineConfig } from '@playwright/test'

// The delivery fault matrix runs alone (`npm run test:delivery`): one worker,
// because every scenario shares one HTTPS server and one Chromium launched by
// the suite itself (its resolver rules need the server's port). Its files end
// in `.pw.ts` so the main suite (`e2e/**/*.spec.ts`) does not pick them up.
export default defineConfig({
  testDir: '.',
  testMatch: '*.pw.ts',
  fullyParallel: false,
  workers: 1,
  retries: 0,
  timeout: 60_000,
  reporter: [['list']],
})
