mod config_check;
mod support;
