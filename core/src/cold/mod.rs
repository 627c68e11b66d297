//! The git cold tier, as far as the core is concerned: where keys live in the tree.
//!
//! Writing and reading git objects is the hosts' work (gix natively); the core decides what
//! goes into each commit and owns the path mapping, so every host lays out the same tree.

pub mod path;

pub use path::{LEAF_SUFFIX, PathError, key_to_path, path_to_key};
