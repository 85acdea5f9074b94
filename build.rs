//! Link options of the release binary.
//!
//! Relative relocations packed (`-z pack-relative-relocs`, DT_RELR): a position-independent
//! Rust binary carries one 24-byte relocation per pointer in its tables (vtables, string
//! slices), 970 KB here, which the dynamic loader reads at start and which then stays
//! resident for the life of the daemon; packed, they take 21 KB. Measured after the first poll
//! of the default config (benches/idle_rss.sh): 15.5 MB idle RSS unpacked, 14.4-14.6 MB
//! packed. It needs glibc 2.36 or newer at run time (Debian 12, Ubuntu 22.10); the Debian
//! package's `depends` says so (Cargo.toml). Only the release profile: tests and debug builds
//! link as usual.

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    let gnu_linux = std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|env| env == "gnu");
    if release && gnu_linux {
        println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
