mod config_check;
mod demo_app;
mod proxy;
mod sessions;
mod store_conformance;
mod support;
