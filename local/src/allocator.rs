//! The server's memory allocator: mimalloc (the `tollgate` binary's `#[global_allocator]`),
//! tuned to give freed memory back at once.
//!
//! Why not the system's: under load at 64 connections, glibc's `malloc` and `free` took about
//! a quarter of the server's CPU, much of it threads waiting on each other for an arena's
//! lock (memory allocated on one runtime thread and freed on another, or on the call meter's
//! writer thread). mimalloc's heaps are per thread and a cross-thread free takes no lock:
//! CPU per metered call 0.062-0.069 -> 0.045-0.054 ms (BENCHMARKS.md).
//!
//! Tuned for memory: with its defaults (freed pages kept for a second, transparent huge
//! pages) resident memory reached 72 MiB after the `track` benchmark rows, over the 64 MiB
//! target; purging freed pages at once, without huge pages (the `no_thp` build feature,
//! Cargo.toml), 34 MiB, against 56 MiB with glibc.

/// `mi_option_purge_delay` in mimalloc v3's `mi_option_e` (`libmimalloc-sys` =0.1.49, pinned
/// in Cargo.toml): the crate does not name it. A test checks it against its default.
const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

/// Sets mimalloc's options for the server: call first thing in `main`, before any thread is
/// started (mimalloc's option setters are not thread-safe).
pub fn tune() {
    // SAFETY: sets a plain integer option; called before other threads exist.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) };
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
        assert_eq!(unsafe { libmimalloc_sys::mi_option_get(PURGE_DELAY) }, 0);
    }
}
