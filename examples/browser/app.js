// Loads a saved kiln model by URL (?model=URL, or the field) and shows the top-3 classes of an image the user picks
// or drops. In an application, import from 'kiln'; here the page uses the repository's build directly.
import * as kiln from '../../dist/index.browser.js';

const $ = (id) => document.getElementById(id);
let model;

async function loadModel(url) {
  $('status').textContent = `Loading ${url}…`;
  try {
    await kiln.ready();
    model?.dispose();
    model = await kiln.load(new URL(url, location.href));
    const classes = kiln.classNamesOf(model);
    $('status').textContent = `Loaded ${url}: input [${model.inputShape}], ${model.parameterCount.toLocaleString()} parameters, classes ${classes.join(', ')}.`;
    document.body.dataset.state = 'ready';
  } catch (error) {
    $('status').textContent = `Could not load ${url}: ${error.message}`;
    document.body.dataset.state = 'error';
  }
}

/** The image's RGBA pixels at its own size (the model's area resize makes the input). */
async function pixels(file) {
  const bitmap = await createImageBitmap(file, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { colorSpace: 'srgb' });
  context.drawImage(bitmap, 0, 0);
  const { data } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  const preview = $('preview');
  preview.style.display = 'block';
  preview.getContext('2d').drawImage(bitmap, 0, 0, preview.width, preview.height);
  return { width: bitmap.width, height: bitmap.height, data: new Uint8Array(data.buffer) };
}

async function classifyFile(file) {
  if (!model) {
    $('status').textContent = 'Load a model first.';
    return;
  }
  const [top] = await kiln.classify(model, [await pixels(file)], 3);
  $('results').replaceChildren(...top.map(({ label, probability }) => {
    const item = document.createElement('li');
    const bar = document.createElement('span');
    bar.className = 'bar';
    bar.style.width = `${(probability * 10).toFixed(1)}em`;
    item.append(`${label} ${(probability * 100).toFixed(1)} %`, bar);
    return item;
  }));
  document.body.dataset.state = 'classified';
}

$('load').addEventListener('click', () => loadModel($('model-url').value));
$('file').addEventListener('change', (event) => event.target.files[0] && classifyFile(event.target.files[0]));
const drop = $('drop');
drop.addEventListener('dragover', (event) => {
  event.preventDefault();
  drop.classList.add('over');
});
drop.addEventListener('dragleave', () => drop.classList.remove('over'));
drop.addEventListener('drop', (event) => {
  event.preventDefault();
  drop.classList.remove('over');
  const file = event.dataTransfer.files[0];
  if (file) classifyFile(file);
});

const fromQuery = new URLSearchParams(location.search).get('model');
if (fromQuery) $('model-url').value = fromQuery;
loadModel($('model-url').value);
