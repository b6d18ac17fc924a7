import { describe, expect, test } from 'vitest'
import { explain } from '../../src/messages'
import * as notes from '../../src/notes'

// The debug sentences are an array indexed by code (their chunk imports nothing).
const CODES = Object.entries(notes as Record<string, unknown>).filter((entry): entry is [string, number] => typeof entry[1] === 'number')

describe('explain', () => {
  test('every note code is distinct and has a sentence of its own', () => {
    const codes = CODES.map(([, code]) => code)
    expect(new Set(codes).size).toBe(codes.length)
    const sentences = CODES.map(([, code]) => explain([code, code === notes.GROUP_NO_KEY ? ['x', 'y'] : 'x', 'y', 'z']))
    for (const sentence of sentences) expect(sentence).not.toMatch(/^note \d/)
    expect(new Set(sentences).size).toBe(sentences.length)
  })

  test('each runtime note reads as its name says', () => {
    expect(explain([notes.NOT_RUNNING, 'track'])).toBe('track dropped: mixpanel-browser is not running')
    expect(explain([notes.CALL_FAILED, 'optIn'])).toBe('optIn call failed')
    expect(explain([notes.MIXPANEL_FAILED, 'identify'])).toBe('identify: a mixpanel-browser call failed')
    expect(explain([notes.REIDENTIFY_FAILED])).toBe('re-identifying the known user failed')
    expect(explain([notes.CALLBACK_THREW])).toBe('a callback threw')
    expect(explain([notes.SKIPPED, 'page'])).toBe('page call skipped: integrations.Mixpanel is false')
    expect(explain([notes.BRIDGE_FAILED])).toBe('mParticle bridge failed')
    expect(explain([notes.LISTEN_FAILED])).toBe('could not listen to analytics.reset() and analytics.alias()')
  })

  test('an unknown code still says something', () => {
    expect(explain([99, 'a'])).toBe('note 99 ["a"]')
  })
})
