/** The CIFAR-10 class names, in label order (platform-neutral: pages and edge code import them too). */
export const CIFAR10_CLASS_NAMES = ['airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck'];
