mod support;
mod demo_app;
