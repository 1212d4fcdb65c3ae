mod cli;
mod config_check;
mod demo_app;
mod operations;
mod proxy;
mod scale_out;
mod store_conformance;
mod support;
