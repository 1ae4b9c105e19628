//! `landlock-webhook`: serve, inject, review.

fn main() {}
