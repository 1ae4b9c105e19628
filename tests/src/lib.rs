//! Test harnesses shared by the cross-crate tests of landlock-injector.

pub mod admission_policy;
pub mod admit;
pub mod audit;
pub mod chart;
pub mod fuzz;
pub mod netns;
pub mod pod_runner;
pub mod registry;
pub mod schema;
pub mod scrape;
pub mod shell;
pub mod static_build;
