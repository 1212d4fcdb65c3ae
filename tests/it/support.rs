pub mod django_app;
pub mod gateway;
pub mod http;
pub mod node_app;
pub mod records;
pub mod redis;
pub mod redis_topology;
pub mod upstream;
