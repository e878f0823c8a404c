//! The `xtask` binary: everything is in the library.

fn main() {
    xtask::main()
}
