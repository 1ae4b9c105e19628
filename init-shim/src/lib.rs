//! The Landlock policy model of landlock-injector, shared by the webhook (which renders it into
//! shim flags) and `landlock-shim` (which parses the flags, adds its profile and the volumes it
//! discovers, and applies the result with Landlock before it runs the program).
//!
//! | module       | decides                                                        |
//! |--------------|----------------------------------------------------------------|
//! | [`values`]   | what a valid path, port or mode is                             |
//! | [`access`]   | what `ro` / `rx` / `rw` / `rwx` mean in Landlock rights        |
//! | [`profiles`] | which paths the base profiles grant                            |
//! | [`policy`]   | what one shim invocation asks for                              |
//! | [`flags`]    | how a policy is written on, and read from, the command line    |

pub mod access;
pub mod flags;
pub mod policy;
pub mod profiles;
pub mod values;

pub use access::Access;
pub use policy::{PathGrant, Policy};
pub use profiles::Profile;
pub use values::{Mode, PolicyPath, Port, ValueError};
