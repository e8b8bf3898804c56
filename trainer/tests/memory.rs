//! `keep_freed_memory` keeps a large buffer's pages in the process after it is freed, so the next
//! training step reuses them instead of faulting in fresh zeroed pages (glibc only). Its own test
//! binary without the test harness: the setting is process-wide, and it applies to the main
//! thread's heap (glibc still maps a thread's largest buffers on their own).

/// The process's resident memory in bytes (`/proc/self/statm`, second field, in pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: sysconf only reads a system parameter.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as u64
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn main() {
    a_freed_large_buffer_stays_resident_for_reuse();
    println!("test a_freed_large_buffer_stays_resident_for_reuse ... ok");
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn main() {}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn a_freed_large_buffer_stays_resident_for_reuse() {
    const SIZE: usize = 256 << 20;
    glimpse::memory::keep_freed_memory();
    let before = resident_bytes();
    let buffer = std::hint::black_box(vec![1u8; SIZE]); // every page written
    let holding = resident_bytes();
    drop(buffer);
    let after = resident_bytes();
    assert!(holding - before >= (SIZE as u64) * 9 / 10, "{before} → {holding}");
    // glibc's default would unmap it here and the resident size would fall back by SIZE.
    assert!(
        after + (16 << 20) >= holding,
        "freed pages went back: {holding} → {after}"
    );
}
