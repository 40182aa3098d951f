//! The server's memory allocator: mimalloc (the `tollgate` binary's `#[global_allocator]`),
//! tuned to give freed memory back soon.
//!
//! Why not the system's: under load at 64 connections, glibc's `malloc` and `free` took about
//! a quarter of the server's CPU, much of it threads waiting on each other for an arena's
//! lock (memory allocated on one runtime thread and freed on another, or on the call meter's
//! writer thread). mimalloc's heaps are per thread and a cross-thread free takes no lock:
//! CPU per metered call 0.062-0.069 -> 0.045-0.054 ms (BENCHMARKS.md).
//!
//! Tuned for memory: with its defaults (freed pages kept for a second, transparent huge
//! pages) resident memory reached 72 MiB after the `track` benchmark rows, over the 64 MiB
//! target; purging freed pages after 10 ms, without huge pages (the `no_thp` build feature,
//! Cargo.toml) and collecting every second, 39-44 MiB, against 56 MiB with glibc. Not at
//! once (0 ms): then nearly every free of a page's last block returned it to the kernel, and
//! those `madvise` calls and the TLB flushes they send to the other core took 3.4 % of the
//! server's CPU under load (BENCHMARKS.md).

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (`libmimalloc-sys` =0.1.49, pinned
/// in Cargo.toml): the crate does not name it. A test checks it against its default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// How long freed pages are kept before they are returned to the kernel (see above).
const PURGE_DELAY_MS: std::ffi::c_long = 10;

/// How often the purging thread lets mimalloc return the pages whose delay has passed.
const PURGE_TICK: std::time::Duration = std::time::Duration::from_secs(1);

/// Sets mimalloc's options for the server and starts its purging thread: call first thing in
/// `main`, before any other thread is started (mimalloc's option setters are not
/// thread-safe).
pub fn tune() {
    // SAFETY: sets a plain integer option; called before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, PURGE_DELAY_MS) };
    // mimalloc purges only when it is called: a server gone quiet after a burst would keep
    // the burst's freed pages (96 MiB after the `track` benchmark rows). Collecting from any
    // thread purges the arenas' expired ranges, program-wide.
    let purging = std::thread::Builder::new().name("mimalloc-purge".into()).spawn(|| loop {
        std::thread::sleep(PURGE_TICK);
        // SAFETY: mimalloc's collection may be called from any thread at any time.
        unsafe { libmimalloc_sys::mi_collect(false) };
    });
    if let Err(e) = purging {
        // Memory is still returned under load; only a quiet server keeps more.
        eprintln!("tollgate: cannot start mimalloc's purging thread: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_purge_delay_is_mimallocs_option_of_that_number() {
        // v3's default purge delay is 1,000 ms; no other option of the enum defaults to it.
        if std::env::var_os("MIMALLOC_PURGE_DELAY").is_none() {
            assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 1000);
        }
        tune();
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, PURGE_DELAY_MS);
    }
}
