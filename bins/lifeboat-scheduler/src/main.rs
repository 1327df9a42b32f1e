//! lifeboat-scheduler (being built).
fn main() {}
