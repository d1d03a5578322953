//! libdl's data region, at its `__memory_base`: its error messages (each NUL-terminated), then a
//! buffer where messages naming a library or a symbol are composed (`prefix`, the name, a
//! suffix; truncated to fit).

/// A message, or a part of one, in the data region.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Msg {
    /// `dlopen` with a flag wasi-libc's `<dlfcn.h>` does not define.
    Flags,
    /// `dlopen` with neither `RTLD_LAZY` nor `RTLD_NOW`.
    Mode,
    /// Prefix of `dlopen`'s messages naming the library.
    Dlopen,
    /// `dlopen` of a name that is not in the table.
    NoLibrary,
    /// `dlopen` with `RTLD_NOLOAD` of a library not loaded yet.
    NotLoaded,
    /// Prefix of `dlsym`'s messages naming the symbol.
    Dlsym,
    /// `dlsym` of a name the program scope does not have.
    NotInProgram,
    /// `dlsym` of a name the library does not have.
    NotInLibrary,
    /// `dlsym` with a NULL name.
    NullName,
    /// `dlsym` with a handle `dlopen` did not return.
    Handle,
    /// `dlsym` with `RTLD_NEXT`.
    Next,
    /// `dlclose` with a handle `dlopen` did not return.
    Close,
}

impl Msg {
    const ALL: [Msg; 12] = [
        Msg::Flags,
        Msg::Mode,
        Msg::Dlopen,
        Msg::NoLibrary,
        Msg::NotLoaded,
        Msg::Dlsym,
        Msg::NotInProgram,
        Msg::NotInLibrary,
        Msg::NullName,
        Msg::Handle,
        Msg::Next,
        Msg::Close,
    ];

    fn text(self) -> &'static str {
        match self {
            Msg::Flags => {
                "dlopen: invalid flags (the flags are RTLD_LAZY, RTLD_NOW, RTLD_GLOBAL, \
                 RTLD_LOCAL, RTLD_NOLOAD and RTLD_NODELETE)"
            }
            Msg::Mode => "dlopen: invalid mode: RTLD_LAZY or RTLD_NOW is required",
            Msg::Dlopen => "dlopen: ",
            Msg::NoLibrary => {
                ": no such library (only libraries linked as dl-openable can be opened)"
            }
            Msg::NotLoaded => ": not loaded yet (RTLD_NOLOAD)",
            Msg::Dlsym => "dlsym: ",
            Msg::NotInProgram => {
                ": symbol not found in the program or in the libraries opened with RTLD_GLOBAL"
            }
            Msg::NotInLibrary => ": symbol not found in this library",
            Msg::NullName => "dlsym: the symbol name is NULL",
            Msg::Handle => "dlsym: invalid handle",
            Msg::Next => "dlsym: RTLD_NEXT is not supported",
            Msg::Close => "dlclose: invalid handle",
        }
    }

    /// The message's offset from `__memory_base`.
    pub(super) fn offset(self) -> i32 {
        let mut at = 0;
        for m in Msg::ALL {
            if m == self {
                break;
            }
            at += m.text().len() + 1;
        }
        i32::try_from(at).unwrap_or(0)
    }
}

/// Bytes of the buffer messages are composed in (the last one is always the NUL).
pub(super) const BUFFER_SIZE: i32 = 256;

/// The messages' bytes: the data segment.
pub(super) fn data() -> Vec<u8> {
    let mut data = Vec::new();
    for m in Msg::ALL {
        data.extend_from_slice(m.text().as_bytes());
        data.push(0);
    }
    data
}

/// The buffer's offset from `__memory_base`: right after the messages.
pub(super) fn buffer() -> i32 {
    i32::try_from(data().len()).unwrap_or(0)
}

/// Bytes of the data region: the messages and the buffer.
pub(super) fn region_size() -> u32 {
    u32::try_from(buffer() + BUFFER_SIZE).unwrap_or(0)
}
