pub mod gateway;
pub mod upstream;
