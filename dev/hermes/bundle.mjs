// Bundles scenarios.js for Hermes as Metro would for an app (tests/hermes/hermes.test.mjs
// and bench/sections/hermes.mjs): `wallet-backup` is the built package (pkg/,
// symlinked into <dir>/node_modules), resolved with the `react-native`
// export condition; the test's own code and @noble/hashes are lowered to
// ES5 (Hermes 0.12 has no classes, async arrows, …); the package's React
// Native file is ES5 already. `inputs` becomes `__INPUT__` in the bundle.
//
//   const { bundle, inputs } = await bundleScenarios({ dir, inputs })   // bundle: <dir>/bundle.js

import { mkdirSync, readFileSync, symlinkSync, existsSync } from 'node:fs'
import { join } from 'node:path'

import * as esbuild from 'esbuild'

import { lowerToEs5 } from '../../scripts/wasm-toolchain.mjs'
import { ROOT } from './bridge.mjs'

export async function bundleScenarios({ dir, inputs }) {
  const modules = join(dir, 'node_modules')
  if (!existsSync(join(modules, 'wallet-backup'))) {
    mkdirSync(modules, { recursive: true })
    symlinkSync(join(ROOT, 'pkg'), join(modules, 'wallet-backup'), 'dir')
  }
  const built = await esbuild.build({
    entryPoints: [join(ROOT, 'dev', 'hermes', 'scenarios.js')],
    absWorkingDir: dir,
    preserveSymlinks: true,
    nodePaths: [modules, join(ROOT, 'node_modules')],
    bundle: true,
    format: 'iife',
    target: 'es2016',
    // What Metro asks a package's exports for.
    conditions: ['react-native'],
    mainFields: ['react-native', 'browser', 'module', 'main'],
    define: { __INPUT__: JSON.stringify(inputs) },
    outfile: join(dir, 'bundle.js'),
    metafile: true,
    logLevel: 'warning',
    plugins: [{
      name: 'es5',
      setup(b) {
        b.onLoad({ filter: /\.m?js$/ }, async (args) => {
          const source = readFileSync(args.path, 'utf8')
          if (args.path.includes(`${join('react-native', 'index.js')}`)) return { contents: source, loader: 'js' }
          return { contents: await lowerToEs5(source, args.path), loader: 'js' }
        })
      },
    }],
  })
  return { bundle: join(dir, 'bundle.js'), inputs: Object.keys(built.metafile.inputs) }
}
