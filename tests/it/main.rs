mod cli;
mod config_check;
mod demo_app;
mod deploy_files;
mod operations;
mod proxy;
mod store_conformance;
mod support;
