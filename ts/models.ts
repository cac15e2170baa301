/** Ready-made models. */
import * as layers from './layers/index.js';
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
    { inputShape: [32, 32, 3], seed: options.seed ?? 1 },
  );
}
