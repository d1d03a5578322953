//! Drop-in replacements for `wit_component::Linker`, so that a program linking dynamic libraries
//! with wit-component switches to weld by changing one `use` line.
//!
//! [`Linker`] has the by-value builder of wit-component up to 0.254 (what componentize-py and
//! others call), [`v263::Linker`] the `&mut self` builder of wit-component 0.263 with its
//! `encoder()`:
//!
//! ```
//! use weld_component::compat::Linker; // was: use wit_component::Linker;
//!
//! let app = wat::parse_str(r#"(module (@dylink.0 (needed "libbase.so"))
//!     (import "env" "answer" (func (result i32)))
//!     (func (export "_start") (drop (call 0))))"#)?;
//! let base = wat::parse_str(r#"(module (@dylink.0)
//!     (func (export "answer") (result i32) (i32.const 42)))"#)?;
//! let component: Vec<u8> = Linker::default()
//!     .validate(true)
//!     .library("libapp.so", &app, false)?
//!     .library("libbase.so", &base, false)?
//!     .encode()?;
//! weld_component::validate(&component)?;
//! # Ok::<(), anyhow::Error>(())
//! ```
//!
//! Errors are weld's (an [`anyhow::Error`] wrapping a [`LinkError`](crate::LinkError), with
//! weld's wording); the bytes given are copied, as wit-component copies them.

/// wit-component's `Linker` before 0.255: a by-value builder.
#[derive(Clone, Debug, Default)]
pub struct Linker {
    inner: crate::Linker<'static>,
}

impl Linker {
    /// Adds a library named `name`; a dl-openable one goes into the dlopen table.
    pub fn library(mut self, name: &str, module: &[u8], dl_openable: bool) -> anyhow::Result<Self> {
        if dl_openable {
            self.inner.dl_openable(name, module.to_vec());
        } else {
            self.inner.library(name, module.to_vec());
        }
        Ok(self)
    }

    /// Adds an adapter module named `name` (for example `wasi_snapshot_preview1`).
    pub fn adapter(mut self, name: &str, module: &[u8]) -> anyhow::Result<Self> {
        self.inner.adapter(name, module.to_vec());
        Ok(self)
    }

    /// Validates the output (weld's default is `true`).
    pub fn validate(mut self, validate: bool) -> Self {
        self.inner.validate(validate);
        self
    }

    /// Sets the stack size in bytes.
    pub fn stack_size(mut self, stack_size: u32) -> Self {
        self.inner.stack_size(stack_size);
        self
    }

    /// Binds unresolved function imports to trapping stubs.
    pub fn stub_missing_functions(mut self, stub: bool) -> Self {
        self.inner.stub_missing_functions(stub);
        self
    }

    /// Links weld's built-in `libdl.so`.
    pub fn use_built_in_libdl(mut self, use_it: bool) -> Self {
        self.inner.use_built_in_libdl(use_it);
        self
    }

    /// Adds name sections to the output.
    pub fn debug_names(mut self, debug_names: bool) -> Self {
        self.inner.options_mut().debug_names = debug_names;
        self
    }

    /// Merges semver-compatible interface imports.
    pub fn merge_imports_based_on_semver(mut self, merge: bool) -> Self {
        self.inner.options_mut().merge_imports_based_on_semver = Some(merge);
        self
    }

    /// Links the libraries into a component.
    pub fn encode(self) -> anyhow::Result<Vec<u8>> {
        Ok(self.inner.encode()?.component)
    }
}

/// The shape of wit-component 0.263's `Linker`.
pub mod v263 {
    /// wit-component 0.263's `Linker`: a `&mut self` builder whose encoder options are set
    /// through [`Linker::encoder`].
    #[derive(Clone, Debug, Default)]
    pub struct Linker {
        inner: crate::Linker<'static>,
        encoder: Encoder,
    }

    /// The encoder options of [`Linker`], with the method names of wit-component's
    /// `ComponentEncoder` that apply to linking.
    #[derive(Clone, Debug, Default)]
    pub struct Encoder {
        options: crate::LinkOptions,
        adapters: Vec<(String, Vec<u8>)>,
    }

    impl Linker {
        /// Adds a library named `name`; a dl-openable one goes into the dlopen table.
        pub fn library(
            &mut self,
            name: &str,
            module: &[u8],
            dl_openable: bool,
        ) -> anyhow::Result<&mut Self> {
            if dl_openable {
                self.inner.dl_openable(name, module.to_vec());
            } else {
                self.inner.library(name, module.to_vec());
            }
            Ok(self)
        }

        /// Sets the stack size in bytes.
        pub fn stack_size(&mut self, stack_size: u32) -> &mut Self {
            self.encoder.options.stack_size = stack_size;
            self
        }

        /// Binds unresolved function imports to trapping stubs.
        pub fn stub_missing_functions(&mut self, stub: bool) -> &mut Self {
            self.encoder.options.stub_missing_functions = stub;
            self
        }

        /// Links weld's built-in `libdl.so`.
        pub fn use_built_in_libdl(&mut self, use_it: bool) -> &mut Self {
            self.encoder.options.use_built_in_libdl = use_it;
            self
        }

        /// The encoder options.
        pub fn encoder(&mut self) -> &mut Encoder {
            &mut self.encoder
        }

        /// Links the libraries into a component.
        pub fn encode(self) -> anyhow::Result<Vec<u8>> {
            let Linker { mut inner, encoder } = self;
            let mut options = encoder.options;
            options.adapters = encoder.adapters;
            inner.options(options);
            Ok(inner.encode()?.component)
        }
    }

    impl Encoder {
        /// Validates the output.
        pub fn validate(&mut self, validate: bool) -> &mut Self {
            self.options.validate = validate;
            self
        }

        /// Adds an adapter module named `name`.
        pub fn adapter(&mut self, name: &str, bytes: &[u8]) -> anyhow::Result<&mut Self> {
            self.adapters.push((name.to_string(), bytes.to_vec()));
            Ok(self)
        }

        /// Adds name sections to the output.
        pub fn debug_names(&mut self, debug_names: bool) -> &mut Self {
            self.options.debug_names = debug_names;
            self
        }

        /// Merges semver-compatible interface imports.
        pub fn merge_imports_based_on_semver(&mut self, merge: bool) -> &mut Self {
            self.options.merge_imports_based_on_semver = Some(merge);
            self
        }

        /// Adapters allocate with `memory.grow` instead of importing `cabi_realloc`.
        pub fn realloc_via_memory_grow(&mut self, value: bool) -> &mut Self {
            self.options.realloc_via_memory_grow = value;
            self
        }

        /// Rejects core names from before the component model's standard name mangling.
        pub fn reject_legacy_names(&mut self, reject: bool) -> &mut Self {
            self.options.reject_legacy_names = reject;
            self
        }

        /// Emits canonical (`@0.2`-style) interface names.
        pub fn emit_canonical_names(&mut self, emit: bool) -> &mut Self {
            self.options.emit_canonical_names = emit;
            self
        }

        /// Makes the indirect-call shims use `return_call_ref`.
        pub fn shim_return_call_ref(&mut self, value: bool) -> &mut Self {
            self.options.return_call_ref = value;
            self
        }
    }
}
