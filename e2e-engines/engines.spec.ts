import { runScenarios } from './lib/fixtures'
import { core } from './scenarios/core'
import { delivery } from './scenarios/delivery'
import { faults } from './scenarios/faults'

// One file on purpose: Playwright then runs each project's (engine's)
// scenarios in one worker, which starts the browser once. Another suite
// (scenarios/<name>.ts exporting Scenario[]) is added here.
runScenarios([...core, ...delivery, ...faults])
