//! `landlock-shim`: sandboxes itself with Landlock, then executes the program it wraps.

fn main() {
    std::process::exit(2);
}
