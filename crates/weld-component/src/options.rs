//! [`LinkOptions`]: every setting of a link, including the component encoder's.

use weld_synth::DEFAULT_STACK_SIZE;

/// Options of a link.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct LinkOptions {
    /// Stack size in bytes (default 1 MiB).
    pub stack_size: u32,
    /// Validate the output component (default true).
    pub validate: bool,
    /// Bind unresolved strong function imports to trapping stubs.
    pub stub_missing_functions: bool,
    /// Make symbols defined strongly by several libraries an error (default: a warning, and the
    /// first definition in input order is used).
    pub duplicate_symbols_are_errors: bool,
    /// Adapter modules (for example `wasi_snapshot_preview1`): `(name, bytes)`. Library imports
    /// from a module of that name are satisfied by the adapter.
    pub adapters: Vec<(String, Vec<u8>)>,
    /// Adapters allocate with `memory.grow` instead of importing `cabi_realloc`.
    pub realloc_via_memory_grow: bool,
    /// Merge semver-compatible interface imports (`None`: the encoder's default, on).
    pub merge_imports_based_on_semver: Option<bool>,
    /// Reject core names from before the component model's standard name mangling.
    pub reject_legacy_names: bool,
    /// Emit canonical (`@0.2`-style) interface names.
    pub emit_canonical_names: bool,
    /// Add name sections (default true).
    pub debug_names: bool,
    /// Make the encoder's indirect-call shims use `return_call_ref`.
    pub return_call_ref: bool,
    /// Link weld's built-in `libdl.so` as an extra library.
    pub use_built_in_libdl: bool,
    /// Fuse every kept library (dl-openable ones included) into one core module before linking
    /// (see the `weld-fuse` crate): calls between libraries become direct calls, and the
    /// component holds one library module however many libraries there are.
    pub fuse: bool,
    /// The directories libraries were searched in (see [`crate::search`]), named when a
    /// NEEDED library is missing.
    pub search_dirs: Vec<std::path::PathBuf>,
}

impl Default for LinkOptions {
    fn default() -> Self {
        LinkOptions {
            stack_size: DEFAULT_STACK_SIZE,
            validate: true,
            stub_missing_functions: false,
            duplicate_symbols_are_errors: false,
            adapters: Vec::new(),
            realloc_via_memory_grow: false,
            merge_imports_based_on_semver: None,
            reject_legacy_names: false,
            emit_canonical_names: false,
            debug_names: true,
            return_call_ref: false,
            use_built_in_libdl: false,
            search_dirs: Vec::new(),
            fuse: false,
        }
    }
}
