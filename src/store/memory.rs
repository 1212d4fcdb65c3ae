//! The embedded store.
#[derive(Clone)]
pub struct MemoryStore;
