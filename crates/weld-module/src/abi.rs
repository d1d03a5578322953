//! The vocabulary of the dynamic-linking ABI as weld speaks it: every module, import and export
//! name with a fixed meaning, every name the linker provides or reserves, and the symbol flags.
//!
//! The other crates use these constants and enums rather than string literals, so that what a
//! name means is decided in one place. Names fall into groups:
//!
//! * import module names ([`ENV`], [`GOT_MEM`], [`GOT_FUNC`], [`ROOT`]) and the module names the
//!   component encoder reserves ([`RESERVED_MODULES`]);
//! * `env` imports with a fixed role ([`MEMORY`], [`TABLE`], [`STACK_POINTER`], [`MEMORY_BASE`],
//!   [`TABLE_BASE`]);
//! * exports with a fixed role ([`APPLY_DATA_RELOCS`], [`CALL_CTORS`], [`INITIALIZE`],
//!   [`START`]) and the component's allocator and task hook ([`CABI_REALLOC`], …);
//! * what the linker provides when a library asks for it: data addresses ([`LinkerData`], through
//!   `GOT.mem`), `env` globals ([`LinkerGlobal`]) and `env` functions ([`LinkerFunction`]);
//! * `env` functions the component model provides ([`Intrinsic`]) and the canonical-ABI
//!   intrinsics weld itself uses ([`CONTEXT_GET_1`], [`THREAD_NEW_INDIRECT`]).

use crate::{FuncSig, ValType};

/// The module name of most linker-provided imports.
pub const ENV: &str = "env";
/// The module name of imports that yield the address of a data symbol.
pub const GOT_MEM: &str = "GOT.mem";
/// The module name of imports that yield the table index of a function.
pub const GOT_FUNC: &str = "GOT.func";
/// The module name of a component's own canonical-ABI intrinsics and world functions.
pub const ROOT: &str = "$root";
/// The name of the custom section that makes a module a dynamic library.
pub const DYLINK_SECTION: &str = "dylink.0";
/// The prefix of the custom sections that carry a library's WIT world.
pub const COMPONENT_TYPE_PREFIX: &str = "component-type";
/// weld's custom section in a library fused from others (the weld-fuse crate): the names of the
/// libraries fused into it, encoded as `dylink.0`'s NEEDED list is. A NEEDED entry naming one of
/// them is satisfied by the fused library.
pub const FUSED_PARTS_SECTION: &str = "weld.fused-parts";

/// The shared linear memory (`env.memory`).
pub const MEMORY: &str = "memory";
/// The shared function table (`env.__indirect_function_table`).
pub const TABLE: &str = "__indirect_function_table";
/// The shared stack pointer global (`env.__stack_pointer`).
pub const STACK_POINTER: &str = "__stack_pointer";
/// Where this library's data region starts (`env.__memory_base`).
pub const MEMORY_BASE: &str = "__memory_base";
/// Where this library's table region starts (`env.__table_base`).
pub const TABLE_BASE: &str = "__table_base";
/// Classic (non-component) thread-local storage's base, which weld does not support.
pub const TLS_BASE: &str = "__tls_base";

/// Applies data relocations; run before any constructor.
pub const APPLY_DATA_RELOCS: &str = "__wasm_apply_data_relocs";
/// Runs the library's constructors.
pub const CALL_CTORS: &str = "__wasm_call_ctors";
/// A reactor's initialisation function (used instead of `__wasm_call_ctors`).
pub const INITIALIZE: &str = "_initialize";
/// A command's entry point.
pub const START: &str = "_start";

/// The canonical-ABI allocator.
pub const CABI_REALLOC: &str = "cabi_realloc";
/// The allocator for the arguments of exported functions, when it is not `cabi_realloc`.
pub const CABI_EXPORT_REALLOC: &str = "cabi_export_realloc";
/// The allocator for the results of imported functions, when it is not `cabi_realloc`.
pub const CABI_IMPORT_REALLOC: &str = "cabi_import_realloc";
/// A wasip3 libc's task hook, told when constructors start and end.
pub const TASK_HOOK: &str = "__wasm_task_hook";
/// What the task hook is told just before the constructors run.
pub const TASK_HOOK_CTORS_START: i32 = 6;
/// What the task hook is told just after the constructors ran.
pub const TASK_HOOK_CTORS_END: i32 = 7;
/// The data symbol a wasip3 library with thread-local storage exports to describe it.
pub const LIBRARY_TLS_INFO: &str = "__wasm_library_tls_info";

/// `context.get 1` as a `$root` import: the running thread's TLS base under wasip3 threads.
pub const CONTEXT_GET_1: &str = "[context-get-1]";
/// The canonical-ABI intrinsic that starts a thread; its presence means threads may exist.
pub const THREAD_NEW_INDIRECT: &str = "[thread-new-indirect-v0]";

/// Module names the component encoder uses for its own modules: a library importing from one of
/// them would be wired to the encoder's internals.
pub const RESERVED_MODULES: &[&str] = &["__main_module__"];

/// `WASM_SYM_BINDING_WEAK` from the tool-conventions symbol flags.
pub const SYM_BINDING_WEAK: u32 = 0x1;
/// `WASM_SYM_BINDING_LOCAL` from the tool-conventions symbol flags.
pub const SYM_BINDING_LOCAL: u32 = 0x2;
/// `WASM_SYM_VISIBILITY_HIDDEN` from the tool-conventions symbol flags.
pub const SYM_VISIBILITY_HIDDEN: u32 = 0x4;
/// `WASM_SYM_TLS` from the tool-conventions symbol flags.
pub const SYM_TLS: u32 = 0x100;

/// Declares a closed set of names: an enum, its names, and the lookup from a name.
macro_rules! vocabulary {
    ($(#[$doc:meta])* $enum:ident { $($(#[$vdoc:meta])* $variant:ident = $name:literal,)* }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $enum {
            $($(#[$vdoc])* $variant,)*
        }

        impl $enum {
            /// Every member, in declaration order.
            pub const ALL: &[$enum] = &[$($enum::$variant,)*];

            /// The member called `name`, if any.
            pub fn from_name(name: &str) -> Option<$enum> {
                match name {
                    $($name => Some($enum::$variant),)*
                    _ => None,
                }
            }

            /// The ABI name.
            pub fn name(self) -> &'static str {
                match self {
                    $($enum::$variant => $name,)*
                }
            }
        }
    };
}

vocabulary! {
    /// Data addresses the linker provides to `GOT.mem` imports.
    LinkerData {
        /// The first byte after all libraries' data (`__heap_base`).
        HeapBase = "__heap_base",
        /// The end of the initial memory (`__heap_end`).
        HeapEnd = "__heap_end",
        /// The lowest address of the stack (`__stack_low`).
        StackLow = "__stack_low",
        /// The address just above the stack (`__stack_high`).
        StackHigh = "__stack_high",
        /// The root record of the dlopen table (`__wasm_libdl_libraries`).
        LibdlLibraries = "__wasm_libdl_libraries",
        /// The program's thread-local-storage record (`__wasm_program_tls_info`).
        ProgramTlsInfo = "__wasm_program_tls_info",
    }
}

vocabulary! {
    /// `env` globals the linker provides.
    LinkerGlobal {
        /// The initial stack pointer (`__init_stack_pointer`), mutable or not.
        InitStackPointer = "__init_stack_pointer",
        /// Binaryen asyncify's state, shared by all libraries (`__asyncify_state`).
        AsyncifyState = "__asyncify_state",
        /// Binaryen asyncify's data pointer, shared by all libraries (`__asyncify_data`).
        AsyncifyData = "__asyncify_data",
    }
}

impl LinkerGlobal {
    /// Whether an import of it must be mutable (`__init_stack_pointer` may be either).
    pub fn must_be_mutable(self) -> bool {
        !matches!(self, LinkerGlobal::InitStackPointer)
    }
}

vocabulary! {
    /// `env` functions the linker provides when no library defines them: each library's own
    /// thread-local-storage base (see docs/abi.md).
    LinkerFunction {
        /// `__wasm_get_tls_base: [] -> [i32]`.
        GetTlsBase = "__wasm_get_tls_base",
        /// `__wasm_set_tls_base: [i32] -> []`.
        SetTlsBase = "__wasm_set_tls_base",
    }
}

impl LinkerFunction {
    /// Whether this is the getter.
    pub fn is_getter(self) -> bool {
        matches!(self, LinkerFunction::GetTlsBase)
    }

    /// The signature the ABI requires.
    pub fn signature(self) -> FuncSig {
        accessor_signature(self.is_getter())
    }
}

vocabulary! {
    /// `env` functions the component model provides when no library defines them: the stack
    /// pointer of cooperative threads (`context.get`/`context.set` slot 0).
    Intrinsic {
        /// `__wasm_get_stack_pointer: [] -> [i32]`.
        GetStackPointer = "__wasm_get_stack_pointer",
        /// `__wasm_set_stack_pointer: [i32] -> []`.
        SetStackPointer = "__wasm_set_stack_pointer",
    }
}

impl Intrinsic {
    /// The signature the ABI requires.
    pub fn signature(self) -> FuncSig {
        accessor_signature(matches!(self, Intrinsic::GetStackPointer))
    }
}

/// `[] -> [i32]` for a getter, `[i32] -> []` for a setter.
fn accessor_signature(getter: bool) -> FuncSig {
    if getter {
        FuncSig::new([], [ValType::I32])
    } else {
        FuncSig::new([ValType::I32], [])
    }
}

/// The signature of `cabi_realloc` (and the other allocators).
pub fn realloc_signature() -> FuncSig {
    FuncSig::new([ValType::I32; 4], [ValType::I32])
}

/// The signature of the task hook.
pub fn task_hook_signature() -> FuncSig {
    FuncSig::new([ValType::I32], [])
}
