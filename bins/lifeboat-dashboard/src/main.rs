//! lifeboat-dashboard (being built).
fn main() {}
