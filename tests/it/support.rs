pub mod gateway;
pub mod redis;
pub mod upstream;
