// Compiles the small C shim for Redis's long double arithmetic (native/ldouble.c).
fn main() {
    println!("cargo:rerun-if-changed=native/ldouble.c");
    cc::Build::new().file("native/ldouble.c").opt_level(2).compile("tandem_ldouble");
}
