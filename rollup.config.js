// ESM build of ts/ into dist/, keeping the module layout (preserveModules) so that dist/backend/wasm/* reaches
// the wasm-bindgen output in pkg/ by the same relative path as ts/backend/wasm/* does in the repository.
import typescript from '@rollup/plugin-typescript';

export default {
  input: {
    'index.node': 'ts/index.node.ts',
    'index.browser': 'ts/index.browser.ts',
    'index.edge': 'ts/index.edge.ts',
    'backend/wasm/worker-browser': 'ts/backend/wasm/worker-browser.ts',
    'cli/main': 'ts/cli/main.ts',
    'serve/inference-worker': 'ts/serve/inference-worker.ts',
    'io/onnx/index': 'ts/io/onnx/index.ts',
  },
  output: {
    dir: 'dist',
    format: 'es',
    preserveModules: true,
    preserveModulesRoot: 'ts',
    entryFileNames: '[name].js',
    sourcemap: true,
  },
  // node: built-ins, the wasm-bindgen glue, and the CLI's image decoders (runtime dependencies) stay imports.
  external: (id) => id.startsWith('node:') || /[\\/]pkg[\\/][^\\/]+[\\/]kiln_wasm\.js$/.test(id) || id === 'pngjs' || id === 'jpeg-js' || id === 'prom-client' || id.startsWith('@bufbuild/protobuf'),
  plugins: [
    typescript({
      tsconfig: './tsconfig.json',
      rootDir: 'ts',
      outDir: 'dist',
      declaration: true,
      declarationDir: 'dist',
    }),
  ],
};
