//! Independent work over fixed-size chunks of a slice: spread across rayon's global pool with the `parallel`
//! feature, run in order without it. Chunk boundaries never depend on the thread count, so results (reductions
//! included) are bit-identical either way.

#[cfg(feature = "parallel")]
use rayon::prelude::*;

/// Calls `work(chunk_index, chunk)` on each `chunk_len`-long piece of `data` (the last may be shorter).
pub(crate) fn for_each_chunk_mut<T: Send>(data: &mut [T], chunk_len: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let chunk_len = chunk_len.max(1);
    #[cfg(feature = "parallel")]
    if spread(data.len(), chunk_len) {
        data.par_chunks_mut(chunk_len).enumerate().for_each(|(i, c)| work(i, c));
        return;
    }
    data.chunks_mut(chunk_len).enumerate().for_each(|(i, c)| work(i, c));
}

/// Like [`for_each_chunk_mut`] over two equally long slices cut at the same boundaries.
pub(crate) fn for_each_chunk_mut2<T: Send, U: Send>(
    a: &mut [T],
    b: &mut [U],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T], &mut [U]) + Sync,
) {
    let chunk_len = chunk_len.max(1);
    #[cfg(feature = "parallel")]
    if spread(a.len(), chunk_len) {
        a.par_chunks_mut(chunk_len).zip(b.par_chunks_mut(chunk_len)).enumerate().for_each(|(i, (a, b))| work(i, a, b));
        return;
    }
    a.chunks_mut(chunk_len).zip(b.chunks_mut(chunk_len)).enumerate().for_each(|(i, (a, b))| work(i, a, b));
}

/// Like [`for_each_chunk_mut`] over three equally long slices cut at the same boundaries.
pub(crate) fn for_each_chunk_mut3<T: Send, U: Send, V: Send>(
    a: &mut [T],
    b: &mut [U],
    c: &mut [V],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T], &mut [U], &mut [V]) + Sync,
) {
    let chunk_len = chunk_len.max(1);
    #[cfg(feature = "parallel")]
    if spread(a.len(), chunk_len) {
        a.par_chunks_mut(chunk_len)
            .zip(b.par_chunks_mut(chunk_len))
            .zip(c.par_chunks_mut(chunk_len))
            .enumerate()
            .for_each(|(i, ((a, b), c))| work(i, a, b, c));
        return;
    }
    a.chunks_mut(chunk_len)
        .zip(b.chunks_mut(chunk_len))
        .zip(c.chunks_mut(chunk_len))
        .enumerate()
        .for_each(|(i, ((a, b), c))| work(i, a, b, c));
}

/// `work(chunk_index, chunk)` for each `chunk_len`-long piece of `data`, results in chunk order.
pub(crate) fn map_chunks<T: Sync, R: Send>(
    data: &[T],
    chunk_len: usize,
    work: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    let chunk_len = chunk_len.max(1);
    #[cfg(feature = "parallel")]
    if spread(data.len(), chunk_len) {
        return data.par_chunks(chunk_len).enumerate().map(|(i, c)| work(i, c)).collect();
    }
    data.chunks(chunk_len).enumerate().map(|(i, c)| work(i, c)).collect()
}

/// Whether work of `len` elements in `chunk_len` pieces goes to the pool; a single piece runs inline.
#[cfg(feature = "parallel")]
fn spread(len: usize, chunk_len: usize) -> bool {
    len > chunk_len
}

/// Elements per task for elementwise kernels: large enough to amortize a rayon task, small enough to balance.
pub(crate) const ELEMENTWISE_CHUNK: usize = 1 << 15;

/// Rows per task for row-wise kernels (bias, softmax, batch norm sums), sized by `row_len` to about
/// [`ELEMENTWISE_CHUNK`] elements.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (ELEMENTWISE_CHUNK / row_len.max(1)).max(1)
}

/// Like [`for_each_chunk_mut`], collecting each chunk's result in chunk order.
pub(crate) fn map_chunks_mut<T: Send, R: Send>(
    data: &mut [T],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let chunk_len = chunk_len.max(1);
    #[cfg(feature = "parallel")]
    if spread(data.len(), chunk_len) {
        return data.par_chunks_mut(chunk_len).enumerate().map(|(i, c)| work(i, c)).collect();
    }
    data.chunks_mut(chunk_len).enumerate().map(|(i, c)| work(i, c)).collect()
}
