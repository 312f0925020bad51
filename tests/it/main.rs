//! The one integration-test binary. Each module attacks or exercises one
//! promise against a real in-process server and, where named, the private
//! PostgreSQL and MariaDB servers that `scripts/test` starts.

mod agent;
mod attacks;
mod audit;
mod bad_input;
mod breach;
mod bypass;
mod crash;
mod http;
mod isolation;
mod kafka;
mod logs;
mod long_calls;
mod objects;
mod purity;
mod rest;
mod rest_specs;
mod secrets;
mod sources;
mod sqlserver;
mod tools;
