pub mod gateway;
pub mod node_app;
pub mod redis;
pub mod upstream;
