import { core } from './scenarios/core'
import { runScenarios } from './lib/fixtures'

// One file on purpose: Playwright then runs each project's (engine's)
// scenarios in one worker, which starts the browser once.
runScenarios(core)
