//! Lets the binary, `cargo run` and `cargo test` find libtorch without `LD_LIBRARY_PATH`:
//! torch-sys tells its direct dependents where it linked libtorch, and we record that as an rpath.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{dir}");
    }
}
