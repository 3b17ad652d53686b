// Every ```js and ```ts block of README.md, npm/README.md (the package's README) and docs/*.md,
// and the ```js samples in the JSDoc of js/index.d.ts:
// type-checked with the repository's TypeScript against the built package's types (pkg/index.d.ts),
// with the values a block assumes declared in prelude.d.ts; then each block that can run in
// Node.js is run against pkg/ and a real backup service (the debug binary, SQLite in a temporary
// directory), with a fresh client, an in-memory keychain and custodian, and a password.
//
// A block opts out only with a visible marker on the line before its fence, with a reason:
//   <!-- doc-test: no-run: REASON -->   type-checked, not run (browser or React Native only, a sign-in)
//   <!-- doc-test: skip: REASON -->     neither (code of another SDK, shown for comparison)
// and `<!-- doc-test: self-managed -->` runs a block with a client whose managed backups are off.
// Every block is its own test, so the counts show in the output; the skipped ones as skips.

import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, before, test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { ROOT, createClient, startService, stopProcess } from '../../dev/service.mjs'

const DOCS = ['README.md', 'npm/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).sort().map((f) => `docs/${f}`)]
const MARKER = /^<!-- doc-test: (no-run|skip|self-managed)(?:: (.*\S))? -->$/

/** The code blocks of one Markdown file: { doc, line, lang, code, mode, reason }. */
function blocksOf(doc) {
  const lines = readFileSync(join(ROOT, doc), 'utf8').split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\w*)\s*$/.exec(lines[i])
    if (!fence) continue
    const end = lines.indexOf('```', i + 1)
    assert.ok(end > i, `${doc}:${i + 1}: a code block without its closing fence`)
    const lang = fence[1]
    if (lang === 'js' || lang === 'ts') {
      const marker = i > 0 && lines[i - 1].startsWith('<!-- doc-test') ? lines[i - 1] : null
      const m = marker ? MARKER.exec(marker) : null
      assert.ok(!marker || m, `${doc}:${i}: unknown doc-test marker ${marker}`)
      const mode = m ? m[1] : 'run'
      assert.ok(!m || mode === 'self-managed' || m[2], `${doc}:${i}: a ${mode} marker needs a reason`)
      blocks.push({ doc, line: i + 1, lang, code: lines.slice(i + 1, end).join('\n'), mode, reason: m?.[2] ?? null })
    } else {
      assert.ok(['sh', 'json', 'text', ''].includes(lang) || !/^(js|ts|javascript|typescript|jsx|tsx|mjs|cjs)$/.test(lang),
        `${doc}:${i + 1}: a ${lang} block: mark JavaScript as js or ts`)
    }
    i = end
  }
  return blocks
}

/**
 * The ```js samples in the JSDoc of the package's types (js/index.d.ts), which editors show on
 * hover: type-checked, not run (they use sign-ins), with the package's exports imported.
 */
function jsDocBlocksOf(file) {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n')
  const blocks = []
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '* ```js') continue
    const end = lines.findIndex((l, j) => j > i && l.trim() === '* ```')
    assert.ok(end > i, `${file}:${i + 1}: a JSDoc code block without its closing fence`)
    const body = lines.slice(i + 1, end).map((l) => l.replace(/^\s*\* ?/, ''))
    blocks.push({ doc: file, line: i + 1, lang: 'js', code: `import { ${JSDOC_IMPORTS} } from 'wallet-backup'\n${body.join('\n')}`, mode: 'no-run', reason: 'a JSDoc sample' })
    i = end
  }
  return blocks
}
const JSDOC_IMPORTS = 'Portal, BackupMethods, FirebaseStorage, PasskeyStorage, GDriveStorage, ICloudStorage'

const BLOCKS = [...DOCS.flatMap(blocksOf), ...jsDocBlocksOf('js/index.d.ts')]
const fileOf = (b) => `${b.doc.replace(/[/.]/g, '_')}_${b.line}.${b.lang === 'ts' ? 'ts' : 'js'}`
const runnable = (b) => b.lang === 'js' && (b.mode === 'run' || b.mode === 'self-managed')

// The same module instance the blocks get through node_modules/wallet-backup (a link to pkg/).
const { Portal } = await import(pathToFileURL(join(ROOT, 'pkg', 'node', 'index.mjs')).href)
const SAMPLE_SHARES = JSON.stringify({ secp256k1: { id: 'docs-wallet-1', share: 'a1b2c3d4'.repeat(16) } })
let tmp
let service
let dataDir
/** tsc's diagnostics per block file. */
const diagnostics = new Map()

before(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'wallet-backup-docs-'))
  // Type-check every block that is not skipped in one tsc run.
  const checked = join(tmp, 'check')
  mkdirSync(checked)
  const files = []
  for (const b of BLOCKS.filter((b) => b.mode !== 'skip')) {
    writeFileSync(join(checked, fileOf(b)), b.code + '\n')
    files.push(fileOf(b))
  }
  writeFileSync(join(checked, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'ESNext', moduleResolution: 'bundler', lib: ['ES2022', 'DOM'], types: [],
      // Strict, except that JavaScript blocks are written as apps write JavaScript: a callback's
      // parameters without JSDoc types are not errors (TypeScript still checks every call, option and value).
      strict: true, noImplicitAny: false, noEmit: true, allowJs: true, checkJs: true, moduleDetection: 'force', skipLibCheck: true,
      paths: {
        'wallet-backup': [join(ROOT, 'pkg', 'index.d.ts')],
        'wallet-backup/react-native-libsodium': [join(ROOT, 'pkg', 'react-native-libsodium.d.ts')],
        // A React Native native module the docs use: its API as the adapter takes it.
        'react-native-libsodium': [join(ROOT, 'tests', 'docs', 'react-native-libsodium.d.ts')],
      },
    },
    files: [join(ROOT, 'tests', 'docs', 'prelude.d.ts'), ...files],
  }, null, 2))
  const tsc = spawnSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(checked, 'tsconfig.json'), '--pretty', 'false'], { encoding: 'utf8' })
  const output = tsc.stdout + tsc.stderr
  let key = '(tsc)'
  for (const line of output.split('\n').filter(Boolean)) {
    const at = /^(?:.*[/\\])?([^/\\(]+)\((\d+),\d+\): (.*)$/.exec(line)
    if (at) key = at[1]
    else if (!/^\s/.test(line)) key = '(tsc)' // an indented line continues the diagnostic before it
    diagnostics.set(key, [...(diagnostics.get(key) ?? []), at ? `line ${at[2]}: ${at[3]}` : line])
  }
  assert.ok(tsc.status === 0 || diagnostics.size > 0, `tsc failed without a diagnostic: ${output}`)
  assert.ok(!diagnostics.has('(tsc)') && !diagnostics.has('prelude.d.ts'), output)

  // The runnable blocks: files beside a node_modules/wallet-backup that is pkg/.
  mkdirSync(join(tmp, 'run', 'node_modules'), { recursive: true })
  symlinkSync(join(ROOT, 'pkg'), join(tmp, 'run', 'node_modules', 'wallet-backup'), 'dir')
  dataDir = join(tmp, 'service')
  mkdirSync(dataDir)
  service = await startService({ dataDir, serveArgs: ['--rate-limit', '0'] })
})

after(async () => {
  if (service) await stopProcess(service.child)
  if (tmp) rmSync(tmp, { recursive: true, force: true })
})

test(`the documents have code blocks (${DOCS.join(', ')})`, (t) => {
  const count = (f) => BLOCKS.filter(f).length
  t.diagnostic(`${BLOCKS.length} blocks: ${count(runnable)} type-checked and run, ${count((b) => b.mode === 'no-run')} type-checked only, ${count((b) => b.mode === 'skip')} skipped`)
  for (const doc of ['README.md', 'npm/README.md', 'docs/errors.md', 'docs/migrating-from-portal.md']) {
    assert.ok(BLOCKS.some((b) => b.doc === doc && runnable(b)), `${doc} has no block that runs`)
  }
  assert.ok(BLOCKS.filter((b) => b.doc === 'js/index.d.ts').length >= 5, 'the JSDoc samples of js/index.d.ts were not found')
})

let clients = 0
for (const b of BLOCKS) {
  const name = `${b.doc}:${b.line} (${b.mode === 'skip' ? `skipped: ${b.reason}` : runnable(b) ? 'type-checked and run' : `type-checked; not run: ${b.reason}`})`
  test(name, { skip: b.mode === 'skip' ? b.reason : false }, async () => {
    const problems = diagnostics.get(fileOf(b)) ?? []
    assert.deepEqual(problems, [], `${b.doc}:${b.line}: TypeScript:\n${problems.join('\n')}\n---\n${b.code}`)
    if (!runnable(b)) return
    // What the block assumes, real: a fresh client on the service, an in-memory wallet.
    const state = { shares: SAMPLE_SHARES, record: null, stored: [] }
    const keychain = { getShares: async () => state.shares, setShares: async (s) => { state.shares = s } }
    const apiKey = await createClient({ dataDir, name: `docs-${++clients}`, managedBackups: b.mode !== 'self-managed' })
    Object.assign(globalThis, {
      apiKey,
      apiHost: service.url,
      keychain,
      portal: new Portal({ apiKey, apiHost: service.url, keychain }),
      password: 'correct horse battery staple',
      custodian: { read: async () => state.record, write: async (r) => { state.record = r } },
      onProgress: () => {},
      myServer: { storeCipherText: async (c) => { state.stored.push(c) } },
    })
    const file = join(tmp, 'run', fileOf(b).replace(/\.js$/, '.mjs'))
    writeFileSync(file, b.code + '\n')
    const log = console.log
    console.log = () => {}
    try {
      await import(pathToFileURL(file).href)
    } finally {
      console.log = log
    }
    // Whatever it backed up and recovered, the wallet holds its shares still.
    assert.equal(state.shares, SAMPLE_SHARES, `${relative(ROOT, join(ROOT, b.doc))}:${b.line} changed the keychain's shares`)
  })
}

/** GitHub's anchor of a Markdown heading. */
const slug = (heading) => heading.trim().toLowerCase().replace(/[^\p{L}\p{N} _-]/gu, '').replace(/ /g, '-')

test('every relative link of the READMEs, docs/ and CHANGELOG.md leads to a file, and its #anchor to a heading there', (t) => {
  const broken = []
  let checked = 0
  for (const doc of [...DOCS, 'CHANGELOG.md']) {
    const text = readFileSync(join(ROOT, doc), 'utf8').replace(/^```[\s\S]*?^```/gm, '')
    for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue
      checked++
      const [path, anchor] = target.split('#')
      const file = path ? join(ROOT, doc, '..', path) : join(ROOT, doc)
      if (!existsSync(file)) { broken.push(`${doc}: ${target} (no such file)`); continue }
      if (anchor && file.endsWith('.md')) {
        const headings = [...readFileSync(file, 'utf8').matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]))
        if (!headings.includes(anchor)) broken.push(`${doc}: ${target} (no such heading)`)
      }
    }
  }
  t.diagnostic(`${checked} relative links checked`)
  assert.ok(checked > 20, `only ${checked} relative links found`)
  assert.deepEqual(broken, [])
})
