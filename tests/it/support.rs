pub mod gateway;
pub mod redis;
pub mod redis_topology;
pub mod upstream;
