mod config_check;
mod store_conformance;
mod support;
mod demo_app;
