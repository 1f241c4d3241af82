#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    // Everything Levy writes (the store, the admin token, backups) is the owner's alone.
    #[cfg(unix)]
    unsafe {
        libc::umask(0o077);
    }
    levy::cli::main()
}
