// Loads the model files Node saved (test/model-fixtures.ts), predicts, and round-trips them through IndexedDB.
import * as kiln from '/dist/index.browser.js';

async function predict(model, x) {
  const out = await model.predict(x);
  const values = Array.from(await out.data());
  out.dispose();
  return values;
}

async function run() {
  const info = await kiln.ready({ threads: 1, relaxedSimd: false });
  const x = new Float32Array(await (await fetch('./.generated/input.bin')).arrayBuffer());
  const result = { info, fromUrl: {}, fromIndexedDb: {} };
  for (const name of ['cnn', 'resnet20']) {
    const model = await kiln.load(new URL(`./.generated/${name}.kiln`, location.href).href); // an absolute URL
    result.fromUrl[name] = await predict(model, x);
    await model.save(`indexeddb://${name}`);
    model.dispose();
    const again = await kiln.load(`indexeddb://${name}`);
    result.fromIndexedDb[name] = await predict(again, x);
    again.dispose();
    await kiln.deleteFromIndexedDb(name);
  }
  const cnn = await kiln.load('./.generated/cnn.kiln');
  await cnn.save('downloads://cnn-download'); // the test catches the download and loads it in Node
  cnn.dispose();
  result.liveBytes = kiln.memory().liveBytes;
  return result;
}

run().then(
  (result) => (window.kilnResult = result),
  (error) => (window.kilnResult = { error: String(error?.stack ?? error) }),
);
