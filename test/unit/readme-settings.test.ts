import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { isDeepStrictEqual } from 'node:util'
import ts from 'typescript'
import { describe, expect, test } from 'vitest'
import { normalizeSettings, SettingsError, type Settings } from '../../src/settings'

// The README's settings table is what users read; these tests keep it equal
// to what the code accepts and defaults to. They ask the code at run time
// (normalizeSettings) and the exported `Settings` type, never the schema's
// internal shape, so a rewrite of the schema keeps them meaningful.

const ROOT = fileURLToPath(new URL('../../', import.meta.url))
const README = readFileSync(`${ROOT}README.md`, 'utf8')
const TOKEN = { token: 't' }

interface Row {
  name: string
  /** `string`, `boolean`, `string[]`, `object`, or the allowed string values. */
  type: string | string[]
  /** `required`, `—` (no default), or a literal such as `true`, `[]`, `'cookie'`. */
  default: string
}

/** The rows between `<!-- settings-table -->` and `<!-- /settings-table -->`. */
function readmeRows(readme: string): Row[] {
  const block = /<!-- settings-table -->\n([\s\S]*?)\n<!-- \/settings-table -->/.exec(readme)
  if (!block) throw new Error('README.md has no <!-- settings-table --> block')
  const lines = block[1]!.split('\n')
  expect(lines.slice(0, 2)).toEqual(['| setting | type | default | effect |', '|---|---|---|---|'])
  return lines.slice(2).map((line) => {
    // Cells are split on `|` not escaped as `\|` (the union types use `\|`).
    const cells = line.split(/(?<!\\)\|/).slice(1, -1).map((cell) => cell.trim())
    expect(cells, line).toHaveLength(4)
    const [name, type, fallback] = cells as [string, string, string]
    expect(name, line).toMatch(/^`[A-Za-z]+`$/)
    const values = type.split('\\|').map((part) => part.trim())
    return {
      name: name.slice(1, -1),
      type: values.length > 1 ? values.map((value) => literal(value.replace(/^`|`$/g, '')) as string) : type,
      default: fallback,
    }
  })
}

/** A README literal (`true`, `[]`, `{}`, `''`, `'cookie'`) as a value. */
function literal(text: string): unknown {
  return JSON.parse(text.replace(/^'(.*)'$/, (_, inner: string) => JSON.stringify(inner)))
}

/**
 * The properties of the exported `Settings` type, as TypeScript sees them:
 * name → its type written as the README writes it (`boolean`, `string`,
 * `string[]`, `object`, or the list of allowed string values).
 */
function settingsType(): Map<string, string | string[]> {
  const file = `${ROOT}src/settings.ts`
  const program = ts.createProgram([file], { strict: true, noEmit: true, skipLibCheck: true, target: ts.ScriptTarget.ES2020, moduleResolution: ts.ModuleResolutionKind.Bundler, module: ts.ModuleKind.ESNext })
  const checker = program.getTypeChecker()
  const module = checker.getSymbolAtLocation(program.getSourceFile(file)!)!
  const symbol = checker.getExportsOfModule(module).find((s) => s.name === 'Settings')
  if (!symbol) throw new Error('src/settings.ts exports no `Settings` type')
  const out = new Map<string, string | string[]>()
  for (const property of checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol))) {
    const type = checker.getNonNullableType(checker.getTypeOfSymbol(property))
    const text = checker.typeToString(type)
    out.set(
      property.name,
      type.isUnion() && type.types.every((t) => t.isStringLiteral()) ? type.types.map((t) => (t as ts.StringLiteralType).value)
      : text === 'boolean' || text === 'string' || text === 'string[]' ? text
      : type.getFlags() & ts.TypeFlags.Object && !checker.isArrayType(type) ? 'object'
      : text,
    )
  }
  return out
}

/** The SettingsError for `input`, or null when it is accepted. */
function errorOf(input: Record<string, unknown>): SettingsError | null {
  try {
    normalizeSettings(input as unknown as Settings)
    return null
  } catch (error) {
    expect(error).toBeInstanceOf(SettingsError)
    return error as SettingsError
  }
}

const DEFAULTS = normalizeSettings(TOKEN) as unknown as Record<string, unknown>

/**
 * A key of `Settings` that is accepted with any value and changes nothing: one
 * of Segment's keys with no effect in device mode, which the README names in
 * its prose rather than in the table.
 */
const isIgnored = (name: string): boolean =>
  ['x', true, 1].every((value) => errorOf({ ...TOKEN, [name]: value }) === null && isDeepStrictEqual(normalizeSettings({ ...TOKEN, [name]: value } as Settings), DEFAULTS))

const rows = readmeRows(README)
const TYPES = settingsType()
const typeKeys = [...TYPES.keys()]

describe('the README settings table', () => {
  test('lists every setting of the Settings type that has an effect, once, and nothing else', () => {
    const ignored = typeKeys.filter(isIgnored)
    const names = rows.map((row) => row.name)
    expect(new Set(names).size).toBe(names.length)
    expect([...names].sort()).toEqual(typeKeys.filter((key) => !ignored.includes(key)).sort())
    // The ignored keys are still named, in the text above the table.
    expect(ignored.length).toBeGreaterThan(0)
    const prose = README.slice(README.indexOf('## Settings'), README.indexOf('<!-- settings-table -->'))
    for (const name of ignored) expect(prose).toContain(`\`${name}\``)
  })

  test('lists every key of the normalized settings', () => {
    const names = rows.map((row) => row.name)
    for (const key of Object.keys(DEFAULTS)) expect(names).toContain(key)
  })

  test.each(rows)('`$name`: its default is what a token alone gives', (row) => {
    if (row.default === 'required') {
      expect(errorOf({})?.message).toContain(`\`${row.name}\``)
      return
    }
    const value = row.default === '—' ? undefined : literal(row.default.replace(/^`|`$/g, ''))
    expect(row.default, 'a default is `required`, `—` or a literal in backticks').toMatch(/^(—|`.+`)$/)
    if (row.name in DEFAULTS) expect(DEFAULTS[row.name]).toEqual(value)
    // Passing the documented default changes nothing (also for settings that
    // fold into another one, such as enableEuropeanUnionEndpoint).
    expect(normalizeSettings({ ...TOKEN, [row.name]: value } as Settings)).toEqual(DEFAULTS)
  })

  test.each(rows)('`$name`: its type is the one of the Settings type', (row) => {
    expect(TYPES.get(row.name)).toEqual(row.type)
  })

  test.each(rows)('`$name`: its type is what the code accepts, and other types are refused naming it', (row) => {
    const accepts = (value: unknown) => errorOf({ ...TOKEN, [row.name]: value }) === null
    const refuses = (value: unknown) => expect(errorOf({ ...TOKEN, [row.name]: value })?.message, `${row.name}: ${JSON.stringify(value)}`).toContain(`\`${row.name}\``)
    if (Array.isArray(row.type)) {
      for (const value of row.type) expect(accepts(value), `${row.name}: '${value}'`).toBe(true)
      for (const value of ['other', 1, true]) refuses(value)
      return
    }
    switch (row.type) {
      case 'boolean':
        expect([accepts(true), accepts(false)]).toEqual([true, true])
        for (const value of ['true', 1, null]) refuses(value)
        break
      case 'string':
        expect(['x', 'https://mp.example.com'].some(accepts)).toBe(true)
        for (const value of [1, true, ['x']]) refuses(value)
        break
      case 'string[]':
        expect([accepts([]), accepts(['a', 'b'])]).toEqual([true, true])
        for (const value of ['a', [1], {}]) refuses(value)
        break
      case 'object':
        expect(accepts({ a: 1 })).toBe(true)
        for (const value of ['a', 1, []]) refuses(value)
        break
      default:
        throw new Error(`${row.name}: unknown type \`${row.type}\` in the README table`)
    }
  })
})
