/** Ready-made models. */
import * as layers from './layers/index.js';
import { input, type SymbolicTensor } from './layers/layer.js';
import { Model } from './model/model.js';
import { sequential, type Sequential } from './model/sequential.js';

/**
 * The Keras CIFAR-10 tutorial CNN: Conv32-Pool-Conv64-Pool-Conv64-Flatten-Dense64-Dense10 (logits),
 * 122,570 parameters, for 32×32×3 NHWC inputs scaled to [0, 1].
 */
export function cifar10Cnn(options: { seed?: number } = {}): Sequential {
  return sequential(
    [
      layers.conv2d(32, 3, { activation: 'relu' }),
      layers.maxPooling2d(),
      layers.conv2d(64, 3, { activation: 'relu' }),
      layers.maxPooling2d(),
      layers.conv2d(64, 3, { activation: 'relu' }),
      layers.flatten(),
      layers.dense(64, { activation: 'relu' }),
      layers.dense(10),
    ],
    { inputShape: [32, 32, 3], seed: options.seed ?? 1, name: 'cifar10_cnn' },
  );
}

/**
 * ResNet-20 for CIFAR-10 (He et al. 2016, §4.2): a 3×3 convolution of 16 filters, three stages of three basic
 * blocks (two 3×3 convolutions with batch norm; 16, 32, 64 filters; the 2nd and 3rd stages start with stride 2
 * and a projection shortcut, a strided 1×1 convolution with batch norm), global average pooling and a dense
 * layer of 10 logits. About 0.27 M parameters.
 */
export function resnet20(options: { seed?: number; classes?: number } = {}): Model {
  const { seed = 1, classes = 10 } = options;
  const conv = (filters: number, kernel: number, strides = 1) =>
    layers.conv2d(filters, kernel, { strides, padding: 'same', useBias: false, kernelInitializer: 'heNormal' });
  const bn = () => layers.batchNormalization({ momentum: 0.9, epsilon: 1e-5 });
  const relu = () => layers.activation('relu');

  const block = (x: SymbolicTensor, filters: number, strides: number): SymbolicTensor => {
    let h = relu().apply(bn().apply(conv(filters, 3, strides).apply(x)));
    h = bn().apply(conv(filters, 3).apply(h));
    const shortcut = strides === 1 && x.shape[2] === filters ? x : bn().apply(conv(filters, 1, strides).apply(x));
    return relu().apply(layers.add().apply([h, shortcut]));
  };

  const x = input({ shape: [32, 32, 3], name: 'image' });
  let h = relu().apply(bn().apply(conv(16, 3).apply(x)));
  for (const [stage, filters] of [16, 32, 64].entries()) {
    for (let i = 0; i < 3; i++) h = block(h, filters, stage > 0 && i === 0 ? 2 : 1);
  }
  const logits = layers.dense(classes).apply(layers.globalAveragePooling2d().apply(h));
  return new Model({ inputs: x, outputs: logits, seed, name: 'resnet20' });
}
