//! The `orderly` binary: all behaviour lives in the library's `cli` module.

/// mimalloc instead of the system's allocator: the service allocates and frees on several
/// threads at once (request workers, the writer, the database drivers' threads), where glibc's
/// `malloc` and `free` were 15-30 % of the busiest threads' time (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    orderly::cli::main()
}
