/**
 * The Node.js lines Portcullis supports. 22 and 24 are the maintained LTS
 * lines. 20.19 (past its end of life since 30 April 2026) still runs, and
 * every test runs on it in CI, because machines that cannot move yet should
 * not be left with a broken install; users on it get one line saying so,
 * in place of the warnings dependencies print in their own words.
 */
export const SUPPORTED_NODE_MAJORS: readonly number[] = [22, 24]

/** The line to print for this runtime, or `undefined` on a supported one. */
export function runtimeNotice(version: string = process.versions.node): string | undefined {
  const major = Number(version.split('.')[0])
  if (major >= SUPPORTED_NODE_MAJORS[0]!) return undefined
  return `portcullis: Node.js ${version} is past its end of life; Portcullis runs and is tested on it, but use Node.js ${SUPPORTED_NODE_MAJORS.join(' or ')} (the maintained LTS lines)\n`
}
