#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Everything Levy writes (the store, the admin token, backups) is the owner's alone.
    #[cfg(unix)]
    unsafe {
        libc::umask(0o077);
    }
    raise_open_files_limit();
    levy::cli::main()
}

/// Connections are files: lift the soft limit (often 1,024) to the hard one, so that the
/// per-worker connection cap (`limits.connections_per_worker`) is what bounds them.
fn raise_open_files_limit() {
    #[cfg(unix)]
    unsafe {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max
        {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}
