//! The git cold tier, as far as the core is concerned: where keys live in the tree, and the
//! bytes of git's objects, packs and bundles, written ([`objects`], [`bundle`]) and read back
//! from untrusted input ([`parse`], [`pack_read`], [`bundle`]).
//!
//! Storing objects is the hosts' work (a bare repository natively, IndexedDB in the browser);
//! the core decides what goes into each commit, builds its objects, and owns the path mapping,
//! so every host lays out the same tree and writes the same ids.

pub mod bundle;
pub mod commit;
pub mod objects;
pub mod pack_read;
pub mod parse;
pub mod path;
pub mod tree_view;

pub use path::{LEAF_SUFFIX, PathError, key_to_path, path_to_key};
pub mod rev;
