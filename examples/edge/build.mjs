// Bundles worker.js with kiln's edge build into build/, beside the simd wasm and the model file to serve.
// usage: node build.mjs MODEL.kiln [OUT_DIR]   (OUT_DIR defaults to build/; then: npx workerd serve config.capnp)
import { copyFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rollup } from 'rollup';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
// The package's edge entry and wasm, found as Node finds the package (the repository itself, or node_modules/kiln).
const packageRoot = dirname(require.resolve('kiln/package.json', { paths: [here, join(here, '../..')] }));
const [model, out = join(here, 'build')] = process.argv.slice(2);
if (!model) throw new Error('usage: node build.mjs MODEL.kiln [OUT_DIR]');

mkdirSync(out, { recursive: true });
const bundle = await rollup({
  input: join(here, 'worker.js'),
  external: ['./kiln.wasm', './model.kiln'],
  plugins: [{ name: 'kiln-edge', resolveId: (id) => (id === 'kiln' ? join(packageRoot, 'dist/index.edge.js') : null) }],
  onwarn: (warning, warn) => warning.code !== 'CIRCULAR_DEPENDENCY' && warn(warning),
});
await bundle.write({ file: join(out, 'worker.js'), format: 'es', inlineDynamicImports: true });
await bundle.close();
copyFileSync(join(packageRoot, 'pkg/simd/kiln_wasm_bg.wasm'), join(out, 'kiln.wasm'));
copyFileSync(model, join(out, 'model.kiln'));
console.log(`built ${out}; run: npx workerd serve ${join(here, 'config.capnp')}`);
