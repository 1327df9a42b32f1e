//! lifeboat (being built).
fn main() {}
