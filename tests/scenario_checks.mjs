// The checks of the method scenarios (drive_scenarios.mjs, icloud_scenarios.mjs,
// firebase_scenarios.mjs, passkey_scenarios.mjs), which run in Node.js and in
// headless Chromium alike: so this module imports nothing and uses only what
// both engines have. The test pages serve it from /tests/scenario_checks.mjs.
// Each check throws an Error with `what` in its message when it fails.

export function check(condition, message) {
  if (!condition) throw new Error(message)
}

/** `actual` and `expected` are the same JSON. */
export function equal(actual, expected, what) {
  const a = JSON.stringify(actual)
  const e = JSON.stringify(expected)
  check(a === e, `${what}: expected ${e}, got ${a}`)
}

/**
 * `promise` (or what the function `promise` returns) rejects with an Error
 * whose code is `code` (a TypeError too with `typeError`); resolves to it.
 */
export async function rejects(promise, code, what, { typeError = false } = {}) {
  let error
  try {
    await (typeof promise === 'function' ? promise() : promise)
  } catch (e) {
    error = e
  }
  check(error !== undefined, `${what}: expected a rejection with ${code}, but it resolved`)
  check(error instanceof Error, `${what}: not an Error: ${error}`)
  if (error.code !== code) {
    const cause = error.cause ? ` (cause ${JSON.stringify(error.cause)})` : ''
    throw new Error(`${what}: expected ${code}, got ${error.code}: ${error.message}${cause}`)
  }
  if (typeError) check(error instanceof TypeError, `${what}: not a TypeError`)
  return error
}
