//! Independent work over fixed-size chunks of a slice: spread across rayon's global pool with the `parallel`
//! feature, run in order without it. Chunk boundaries never depend on the thread count, so results (reductions
//! included) are bit-identical either way.
//!
//! Threads take chunks one at a time, the caller from the front and the others from the back ([`for_each_task`]),
//! rather than splitting the range up front, so they finish within one chunk of each other however unevenly the
//! machine runs them; and after a parallel region the other threads keep polling for work for a moment
//! ([`keep_warm`]), since the next kernel call usually follows within a fraction of a millisecond.

/// Calls `work(chunk_index, chunk)` on each `chunk_len`-long piece of `data` (the last may be shorter).
pub(crate) fn for_each_chunk_mut<T: Send>(data: &mut [T], chunk_len: usize, work: impl Fn(usize, &mut [T]) + Sync) {
    let chunks = Chunks::new(data, chunk_len);
    // SAFETY: each task index is run once, so each chunk is borrowed once.
    for_each_task(chunks.count, |i| work(i, unsafe { chunks.get(i) }));
}

/// Like [`for_each_chunk_mut`] over two equally long slices cut at the same boundaries.
pub(crate) fn for_each_chunk_mut2<T: Send, U: Send>(
    a: &mut [T],
    b: &mut [U],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T], &mut [U]) + Sync,
) {
    let (a, b) = (Chunks::new(a, chunk_len), Chunks::new(b, chunk_len));
    // SAFETY: as in for_each_chunk_mut.
    for_each_task(a.count, |i| unsafe { work(i, a.get(i), b.get(i)) });
}

/// Like [`for_each_chunk_mut`] over three equally long slices cut at the same boundaries.
pub(crate) fn for_each_chunk_mut3<T: Send, U: Send, V: Send>(
    a: &mut [T],
    b: &mut [U],
    c: &mut [V],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T], &mut [U], &mut [V]) + Sync,
) {
    let (a, b, c) = (Chunks::new(a, chunk_len), Chunks::new(b, chunk_len), Chunks::new(c, chunk_len));
    // SAFETY: as in for_each_chunk_mut.
    for_each_task(a.count, |i| unsafe { work(i, a.get(i), b.get(i), c.get(i)) });
}

/// Task boundaries over `units` units of about equal cost: tasks of `big` units, except a band of [`TAPER`] big
/// tasks' worth on each side of the middle, cut in tasks of `small`. Threads work inwards from both ends (see
/// [`for_each_task`]) and meet near the middle, so a region ends on short tasks whichever thread runs late. Like
/// chunk boundaries, they depend only on the sizes, never on the thread count.
pub(crate) struct Taper {
    units: usize,
    big: usize,
    small: usize,
    band_end: usize,
    head_tasks: usize,
    band_tasks: usize,
}

/// Big tasks' worth of units that a [`Taper`] cuts small on each side of the middle.
const TAPER: usize = 2;

impl Taper {
    pub(crate) fn new(units: usize, big: usize, small: usize) -> Self {
        let big = big.max(1);
        let small = small.clamp(1, big);
        let head_tasks = (units / (2 * big)).saturating_sub(TAPER);
        let band_start = head_tasks * big;
        let band_end = units.min(band_start + 2 * TAPER * big);
        let band_tasks = (band_end - band_start).div_ceil(small);
        Taper { units, big, small, band_end, head_tasks, band_tasks }
    }

    pub(crate) fn count(&self) -> usize {
        self.head_tasks + self.band_tasks + (self.units - self.band_end).div_ceil(self.big)
    }

    /// The units of task `task`.
    pub(crate) fn units(&self, task: usize) -> std::ops::Range<usize> {
        let start = |t: usize| {
            if t <= self.head_tasks {
                t * self.big
            } else if t <= self.head_tasks + self.band_tasks {
                (self.head_tasks * self.big + (t - self.head_tasks) * self.small).min(self.band_end)
            } else {
                (self.band_end + (t - self.head_tasks - self.band_tasks) * self.big).min(self.units)
            }
        };
        start(task)..start(task + 1)
    }
}

/// Calls `work(first_unit, units)` for each task of `taper` over `data`, cut in `unit_len`-long units.
pub(crate) fn for_each_tapered_mut<T: Send>(data: &mut [T], unit_len: usize, taper: &Taper, work: impl Fn(usize, &mut [T]) + Sync) {
    let units = Chunks::new(data, unit_len);
    // SAFETY: tasks' unit ranges are disjoint and each task index is run once.
    for_each_task(taper.count(), |t| {
        let range = taper.units(t);
        work(range.start, unsafe { units.range(range) })
    });
}

/// Like [`for_each_tapered_mut`] over two slices of the same number of units.
pub(crate) fn for_each_tapered_mut2<T: Send, U: Send>(
    a: &mut [T],
    a_unit_len: usize,
    b: &mut [U],
    b_unit_len: usize,
    taper: &Taper,
    work: impl Fn(usize, &mut [T], &mut [U]) + Sync,
) {
    let (a, b) = (Chunks::new(a, a_unit_len), Chunks::new(b, b_unit_len));
    // SAFETY: as in for_each_tapered_mut.
    for_each_task(taper.count(), |t| {
        let range = taper.units(t);
        unsafe { work(range.start, a.range(range.clone()), b.range(range)) }
    });
}

/// `work(chunk_index, chunk)` for each `chunk_len`-long piece of `data`, results in chunk order.
pub(crate) fn map_chunks<T: Sync, R: Send>(
    data: &[T],
    chunk_len: usize,
    work: impl Fn(usize, &[T]) -> R + Sync,
) -> Vec<R> {
    let chunk_len = chunk_len.max(1);
    map_tasks(data.len().div_ceil(chunk_len), |i| work(i, &data[i * chunk_len..data.len().min((i + 1) * chunk_len)]))
}

/// Like [`for_each_chunk_mut`], collecting each chunk's result in chunk order.
pub(crate) fn map_chunks_mut<T: Send, R: Send>(
    data: &mut [T],
    chunk_len: usize,
    work: impl Fn(usize, &mut [T]) -> R + Sync,
) -> Vec<R> {
    let chunks = Chunks::new(data, chunk_len);
    // SAFETY: as in for_each_chunk_mut.
    map_tasks(chunks.count, |i| work(i, unsafe { chunks.get(i) }))
}

/// `work(i)` for each task index in `0..count`, results in index order.
pub(crate) fn map_tasks<R: Send>(count: usize, work: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let results: Vec<std::sync::Mutex<Option<R>>> = (0..count).map(|_| std::sync::Mutex::new(None)).collect();
    for_each_task(count, |i| *results[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(work(i)));
    results.into_iter().map(|r| r.into_inner().unwrap_or_else(|e| e.into_inner()).expect("every task ran")).collect()
}

/// A mutable slice cut into `chunk_len`-long pieces that tasks on several threads borrow, one task per piece.
pub(crate) struct Chunks<T> {
    data: *mut T,
    len: usize,
    chunk_len: usize,
    count: usize,
}

// SAFETY: tasks get disjoint pieces (see `get`), and T: Send lets them move to other threads.
unsafe impl<T: Send> Sync for Chunks<T> {}

impl<T> Chunks<T> {
    pub(crate) fn new(data: &mut [T], chunk_len: usize) -> Self {
        let chunk_len = chunk_len.max(1);
        Chunks { data: data.as_mut_ptr(), len: data.len(), chunk_len, count: data.len().div_ceil(chunk_len) }
    }

    /// Piece `i`.
    /// SAFETY: no two live borrows of the same piece; `i < count`; the slice outlives them.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn get(&self, i: usize) -> &mut [T] {
        self.range(i..i + 1)
    }

    /// Pieces `pieces.start..pieces.end`, together.
    /// SAFETY: as for `get`, for every piece in the range; `pieces.start < count`.
    #[allow(clippy::mut_from_ref)]
    pub(crate) unsafe fn range(&self, pieces: std::ops::Range<usize>) -> &mut [T] {
        let start = pieces.start * self.chunk_len;
        let end = self.len.min(pieces.end * self.chunk_len);
        std::slice::from_raw_parts_mut(self.data.add(start), end - start)
    }
}

/// Runs `work(i)` once for each `i` in `0..count`: across the pool with the `parallel` feature (a single task
/// runs inline; see [`spread`] for the order), in order without it.
pub(crate) fn for_each_task(count: usize, work: impl Fn(usize) + Sync) {
    #[cfg(feature = "parallel")]
    if count > 1 && rayon::current_num_threads() > 1 {
        spread(count, &work);
        keep_warm();
        return;
    }
    (0..count).for_each(work);
}

/// The calling thread takes tasks from the first one forwards, and up to `count - 1` helpers from the last one
/// backwards, until they meet; the caller then spins until the helpers' last tasks are done (a sleeping caller
/// would add a wake-up). Each thread thus sweeps contiguous memory, and as kernels cut their work in batch
/// order, the same images tend to stay on the same thread from one kernel to the next, in its own cache.
#[cfg(feature = "parallel")]
fn spread(count: usize, work: &(dyn Fn(usize) + Sync)) {
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::{AcqRel, Acquire}};
    let count = u32::try_from(count).expect("fewer than 2^32 tasks");
    // The next task from the front in the low half, one past the next task from the back in the high half.
    let untaken = AtomicU64::new(u64::from(count) << 32);
    let done = AtomicU32::new(0);
    let take = |from_back: bool| {
        let mut current = untaken.load(Acquire);
        loop {
            let (front, back) = (current as u32, (current >> 32) as u32);
            if front >= back {
                return None;
            }
            let (task, next) = if from_back { (back - 1, current - (1 << 32)) } else { (front, current + 1) };
            match untaken.compare_exchange_weak(current, next, AcqRel, Acquire) {
                Ok(_) => return Some(task as usize),
                Err(seen) => current = seen,
            }
        }
    };
    let take_tasks = |from_back: bool| {
        while let Some(task) = take(from_back) {
            work(task);
            done.fetch_add(1, AcqRel);
        }
    };
    rayon::scope(|scope| {
        for _ in 1..rayon::current_num_threads().min(count as usize) {
            scope.spawn(|_| take_tasks(true));
        }
        take_tasks(false);
        // Every task is taken; those still running are being worked on by a helper right now.
        while done.load(Acquire) < count {
            std::hint::spin_loop();
        }
    });
}

/// Keeps the pool's other threads polling for work for a while after a parallel region, instead of letting
/// rayon put them to sleep at once: waking a sleeping thread (a futex round trip, slower still in a VM) costs
/// ~50 µs per region. Each lingering thread runs one [`linger`] job; the calling thread never lingers.
#[cfg(feature = "parallel")]
fn keep_warm() {
    use std::sync::atomic::Ordering::{AcqRel, Acquire};
    let caller = rayon::current_thread_index();
    let others = rayon::current_num_threads() - usize::from(caller.is_some());
    while LINGERING.fetch_update(AcqRel, Acquire, |n| (n < others).then_some(n + 1)).is_ok() {
        rayon::spawn(move || linger(caller));
    }
}

#[cfg(feature = "parallel")]
static LINGERING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Idle polls after which a lingering thread returns to rayon, which then puts it to sleep: about 1–2 ms in
/// the threads wasm build, longer than the JavaScript between the kernel calls of a training step.
#[cfg(feature = "parallel")]
const IDLE_POLLS: u32 = 1 << 16;

/// Runs whatever work appears in the pool until [`IDLE_POLLS`] polls in a row find none.
#[cfg(feature = "parallel")]
fn linger(caller: Option<usize>) {
    if rayon::current_thread_index() != caller {
        let mut idle = 0;
        while idle < IDLE_POLLS {
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => idle = 0,
                _ => {
                    idle += 1;
                    std::hint::spin_loop();
                }
            }
        }
    }
    LINGERING.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
}

/// Threads that share a parallel region: the pool's with the `parallel` feature, else 1.
pub fn thread_count() -> usize {
    #[cfg(feature = "parallel")]
    return rayon::current_num_threads();
    #[cfg(not(feature = "parallel"))]
    1
}

/// Elements per task for elementwise kernels: large enough to amortize a rayon task, small enough to balance.
pub(crate) const ELEMENTWISE_CHUNK: usize = 1 << 15;

/// Rows per task for row-wise kernels (bias, softmax, batch norm sums), sized by `row_len` to about
/// [`ELEMENTWISE_CHUNK`] elements.
pub(crate) fn rows_per_task(row_len: usize) -> usize {
    (ELEMENTWISE_CHUNK / row_len.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn taper_covers_every_unit_once_in_order_with_small_tasks_around_the_middle() {
        for (units, big, small) in [(0, 9, 1), (1, 9, 1), (17, 9, 1), (18, 9, 1), (19, 9, 1), (36, 9, 1), (37, 9, 2), (192, 9, 1), (512, 56, 8), (513, 56, 8), (100, 7, 3), (5, 0, 0)] {
            let taper = Taper::new(units, big, small);
            let ranges: Vec<_> = (0..taper.count()).map(|t| taper.units(t)).collect();
            let mut next = 0;
            for r in &ranges {
                assert_eq!(r.start, next, "{units} units, big {big}, small {small}: {ranges:?}");
                assert!(!r.is_empty() && r.len() <= big.max(1), "{ranges:?}");
                next = r.end;
            }
            assert_eq!(next, units, "{ranges:?}");
            // Units from TAPER big tasks before the middle to TAPER - 1 after it run in tasks of at most `small`.
            let big = big.max(1);
            let band = (units / 2).saturating_sub(TAPER * big)..units.min(units / 2 + (TAPER - 1) * big);
            let small = small.clamp(1, big);
            assert!(ranges.iter().filter(|r| r.start < band.end && r.end > band.start).all(|r| r.len() <= small), "{band:?} {ranges:?}");
            // Big tasks before the middle start at multiples of `big`.
            assert!(ranges.iter().filter(|r| r.len() == big && r.end <= units / 2).all(|r| r.start % big == 0), "{ranges:?}");
        }
    }

    #[test]
    fn every_task_runs_once_whichever_end_it_is_taken_from() {
        let check = || {
            for count in [0, 1, 2, 3, 17, 1000] {
                let runs: Vec<_> = (0..count).map(|_| std::sync::atomic::AtomicU32::new(0)).collect();
                for_each_task(count, |i| {
                    runs[i].fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                });
                assert!(runs.iter().all(|r| r.load(std::sync::atomic::Ordering::Relaxed) == 1), "{count} tasks");
                assert_eq!(map_tasks(count, |i| i), (0..count).collect::<Vec<_>>());
            }
        };
        check();
        #[cfg(feature = "parallel")]
        rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap().install(check);
    }

    #[test]
    fn tapered_tasks_hand_out_disjoint_pieces_of_both_slices() {
        let taper = Taper::new(37, 5, 2);
        let (mut a, mut b) = (vec![0u32; 37 * 3], vec![0u8; 37]);
        for_each_tapered_mut2(&mut a, 3, &mut b, 1, &taper, |first, a, b| {
            assert_eq!(a.len(), 3 * b.len());
            a.iter_mut().enumerate().for_each(|(i, v)| *v += (first * 3 + i) as u32);
            b.iter_mut().for_each(|v| *v += 1);
        });
        assert_eq!(a, (0..37 * 3).collect::<Vec<u32>>());
        assert!(b.iter().all(|&v| v == 1));
    }
}
