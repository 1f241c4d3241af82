fn main() -> std::process::ExitCode {
    levy::cli::main()
}
