//! kiln's compute kernels: plain functions over slices, no allocation in the hot loops, no wasm-bindgen.
//! Shapes are checked once at each public entry point; the same source builds natively (tests), for wasm
//! simd128 and for wasm threads (`parallel` feature).

pub mod activation;
pub mod conv;
pub mod copy;
pub mod dropout;
pub mod elementwise;
pub mod error;
pub mod gemm;
pub mod loss;
pub mod norm;
pub mod optim;
mod par;
pub mod pool;
#[cfg(test)]
mod test_util;

pub use activation::{
    bias_add, bias_grad, leaky_relu_backward, leaky_relu_forward, relu_backward, relu_backward_in_place, relu_forward, relu_forward_in_place,
    sigmoid_backward, sigmoid_backward_in_place, sigmoid_forward, sigmoid_forward_in_place, softmax_rows,
    tanh_backward, tanh_backward_in_place, tanh_forward, tanh_forward_in_place,
};
pub use conv::{
    conv2d_backward, conv2d_forward, conv2d_max_pool_forward, Conv2dGeometry, Conv2dGrads, ConvActivation, OutputGrad, Padding,
    NO_WINNER,
};
pub use dropout::dropout_forward;
pub use error::KernelError;
pub use gemm::{sgemm, GemmError, Transpose};
pub use loss::{
    binary_cross_entropy, binary_cross_entropy_with_logits, mse, softmax_cross_entropy_sparse, PROBABILITY_EPSILON,
};
pub use norm::{batch_norm_backward, batch_norm_forward_inference, batch_norm_forward_train, batch_norm_update_moving};
pub use par::thread_count;
pub use optim::{adagrad_update, adam_update, rmsprop_update, sgd_update};
pub use pool::{avg_pool2d_backward, avg_pool2d_forward, max_pool2d_backward, max_pool2d_forward, Pool2dGeometry};
