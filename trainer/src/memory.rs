//! Memory: keeping freed memory for the next training step, and how much the process may use.
//!
//! glibc's allocator serves every allocation above its mmap threshold (at most 32 MB) with a
//! fresh `mmap` and gives it back with `munmap` when it is freed. A training step allocates the
//! same large tensors every time (one activation of MobileNetV2's first stage at batch 32 is
//! 154 MB), so each step paid for page faults and for the kernel zeroing those pages again:
//! about a fifth of a fine-tuning step in a profile (`perf`: `clear_page_erms`, `exc_page_fault`,
//! TLB flushes). Served from the heap, which is never trimmed, freed pages stay mapped and the
//! next step reuses them. The peak is the same (the largest step's); the process keeps it until
//! it exits.

/// Makes glibc keep freed memory in the process instead of returning it to the kernel, in one
/// heap that every thread shares. Call it first thing in `main`, before any thread starts.
/// Does nothing with other C libraries.
pub fn keep_freed_memory() {
    // SAFETY: mallopt only changes allocator parameters; all values are in range (the trim
    // threshold is a c_int, so at most 2 GiB past the heap's top before trimming).
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
        // One arena: with one per thread (data-parallel replicas each run on their own), memory
        // one replica freed was not reused by another, and the address space grew step after
        // step (36 replicas fine-tuning MobileNetV2 reached 8.19 GB by the third step and
        // aborted; 6.72 GB over 12 steps with one arena). Tensors are large, so the shared
        // lock costs nothing measurable (8 steps on 2 replicas: 18.7-20.0 s either way).
        libc::mallopt(libc::M_ARENA_MAX, 1);
    }
}

/// The most memory this process may still take, and what sets that bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryLimit {
    pub bytes: u64,
    /// What sets it, for messages.
    pub source: &'static str,
    /// What the limit counts of this process.
    pub counts: Counted,
}

/// What of a process's memory a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Counted {
    /// Its address space (`VmSize`): an address-space limit.
    Mapped,
    /// Its resident pages (`VmRSS`): a cgroup's or the machine's memory.
    Resident,
}

impl Counted {
    /// How many bytes of this process it counts now and the process will not reuse: less
    /// what the allocator holds free (freed memory is kept, [`keep_freed_memory`], and still
    /// counted, but later allocations take it: a resumed checkpoint's file buffer, once freed,
    /// held the dataset loaded next). 0 where that cannot be read.
    pub fn now(self) -> u64 {
        let key = match self {
            Counted::Mapped => "VmSize:",
            Counted::Resident => "VmRSS:",
        };
        #[cfg(target_os = "linux")]
        if let Some(kib) = proc_kib("/proc/self/status", key) {
            return kib.saturating_mul(1024).saturating_sub(free_for_reuse());
        }
        let _ = key;
        0
    }
}

/// Bytes the allocator holds free for the process's next allocations (glibc; 0 elsewhere).
fn free_for_reuse() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: mallinfo2 only reads the allocator's statistics (of every arena).
        let info = unsafe { libc::mallinfo2() };
        info.fordblks as u64
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    0
}

/// The smallest of the address-space limit (`ulimit -v`) less what the process has mapped,
/// its cgroup's `memory.max` less what the cgroup's processes hold, and the machine's memory;
/// `None` where none can be read (outside Linux). Read it before loading anything, so that
/// what a run loads first is not counted twice. Only the process's own cgroup (v2) is read,
/// not its parents' nor v1's.
pub fn limit() -> Option<MemoryLimit> {
    [address_space(), cgroup(), physical()]
        .into_iter()
        .flatten()
        .min_by_key(|limit| limit.bytes)
}

#[cfg(target_os = "linux")]
fn address_space() -> Option<MemoryLimit> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } != 0 || limit.rlim_cur == libc::RLIM_INFINITY {
        return None;
    }
    let mapped = Counted::Mapped.now();
    // rlim_t has 32 bits on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let limit = u64::from(limit.rlim_cur);
    Some(MemoryLimit {
        bytes: limit.saturating_sub(mapped),
        source: "the address-space limit (ulimit -v), less what is mapped already,",
        counts: Counted::Mapped,
    })
}

#[cfg(target_os = "linux")]
fn cgroup() -> Option<MemoryLimit> {
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let path = cgroups.lines().find_map(|line| line.strip_prefix("0::"))?;
    let folder = std::path::Path::new("/sys/fs/cgroup").join(path.trim_start_matches('/'));
    let read = |name| std::fs::read_to_string(folder.join(name)).ok();
    // "max" (no limit) does not parse.
    let max: u64 = read("memory.max")?.trim().parse().ok()?;
    // Its processes' own memory (`anon`), not `memory.current`, which also counts the page
    // cache the kernel reclaims when a process needs the room.
    let stat = read("memory.stat").unwrap_or_default();
    let held = stat
        .lines()
        .find_map(|line| line.strip_prefix("anon "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0u64);
    Some(MemoryLimit {
        bytes: max.saturating_sub(held),
        source: "the cgroup's memory.max, less what its processes hold,",
        counts: Counted::Resident,
    })
}

#[cfg(target_os = "linux")]
fn physical() -> Option<MemoryLimit> {
    Some(MemoryLimit {
        bytes: proc_kib("/proc/meminfo", "MemTotal:")?.saturating_mul(1024),
        source: "this machine's memory",
        counts: Counted::Resident,
    })
}

/// The number of kibibytes on the line of `path` that starts with `key`.
#[cfg(target_os = "linux")]
fn proc_kib(path: &str, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    let line = text.lines().find_map(|line| line.strip_prefix(key))?;
    line.trim().trim_end_matches("kB").trim().parse().ok()
}

#[cfg(not(target_os = "linux"))]
fn address_space() -> Option<MemoryLimit> {
    None
}

#[cfg(not(target_os = "linux"))]
fn cgroup() -> Option<MemoryLimit> {
    None
}

#[cfg(not(target_os = "linux"))]
fn physical() -> Option<MemoryLimit> {
    None
}
