/**
 * What the attribute suites share (`load-balancer-attributes.test.ts`,
 * `target-group-attributes.test.ts`): the coverage record that makes an
 * attribute Portcullis claims to act on without a behavioural test fail the
 * suite, and a gateway clock the test owns.
 */
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { writeFile } from 'node:fs/promises'
import { test } from 'node:test'

/** Records which tests change which attributes; `assertCovered` fails for an attribute with none. */
export function attributeCoverage<A extends string>(acted: readonly A[], listName: string) {
  const covered = new Map<string, string[]>()
  return {
    /** A test that changes `attributes` and observes what they do. */
    behaviour(attributes: readonly A[], title: string, fn: () => Promise<void>): void {
      for (const a of attributes) covered.set(a, [...(covered.get(a) ?? []), title])
      test(title, fn)
    },
    /** Registers the test that every attribute of the acted list has a behaviour test in the file. */
    assertCovered(): void {
      test(`every attribute in ${listName} has a test above that changes it`, () => {
        for (const attribute of acted) {
          assert.ok(
            (covered.get(attribute) ?? []).length > 0,
            `${attribute} is in ${listName} but no test in this file changes it: add one, or move it to the attributes accepted without acting on them`,
          )
        }
      })
    },
  }
}

/** libfaketime's preload library, where Debian's faketime package puts it. */
function libfaketime(): string {
  const triplet = process.arch === 'arm64' ? 'aarch64-linux-gnu' : 'x86_64-linux-gnu'
  const path = `/usr/lib/${triplet}/faketime/libfaketime.so.1`
  if (!existsSync(path)) throw new Error(`${path} is missing: apt-get install faketime`)
  return path
}

/**
 * A wall and monotonic clock for a process tree, owned by the test: the
 * process runs with `env` (libfaketime reading `file` on every call), and
 * `advance(s)` moves its time on by `s` seconds at once. Only forward: Node's
 * timers assume time does not go back. A timer that fell due fires when the
 * process's event loop next wakes (any I/O does that).
 */
export async function testClock(file: string): Promise<{
  readonly env: Record<string, string>
  advance(seconds: number): Promise<void>
  /** Seconds moved on so far. */
  readonly offset: number
}> {
  let offset = 0
  await writeFile(file, '+0')
  return {
    env: { LD_PRELOAD: libfaketime(), FAKETIME_TIMESTAMP_FILE: file, FAKETIME_NO_CACHE: '1' },
    async advance(seconds: number) {
      offset += seconds
      await writeFile(file, `+${offset}`)
    },
    get offset() {
      return offset
    },
  }
}
