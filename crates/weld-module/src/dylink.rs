//! The `dylink.0` section: MEM_INFO, NEEDED, EXPORT_INFO, IMPORT_INFO, RUNTIME_PATH and
//! TARGET_ARCH, read into the [`Library`]; unknown subsections become warnings.

use wasmparser::Dylink0Subsection;

use crate::parse::Ctx;
use crate::{Library, MemInfo, ParseError, ParseErrorKind, Warning, WarningKind};

/// Reads every subsection of one `dylink.0` section into `lib` (a second section adds to the
/// first).
pub(crate) fn read<'a>(
    cx: &Ctx<'_>,
    lib: &mut Library<'a>,
    mut reader: wasmparser::Dylink0SectionReader<'a>,
) -> Result<(), ParseError> {
    loop {
        // Where this subsection starts (its id byte), for errors and warnings about it.
        let at = reader.original_position();
        let Some(sub) = reader.next() else { break };
        let what = usize::try_from(at)
            .ok()
            .and_then(|i| lib.bytes.get(i))
            .map_or("dylink.0 subsection", |&id| subsection_name(id));
        // wasmparser's message ("unexpected end-of-file", "malformed UTF-8 encoding") says
        // what is wrong; say where, too.
        let sub = sub.map_err(|e| {
            cx.err(
                Some(e.offset()),
                ParseErrorKind::Dylink,
                format!("{what}: {}", e.message()),
            )
        })?;
        match sub {
            Dylink0Subsection::MemInfo(m) => {
                let pow = |p: u32, field: &str| {
                    1u32.checked_shl(p).ok_or_else(|| {
                        cx.err(
                            Some(at),
                            ParseErrorKind::Dylink,
                            format!("{what}: {field} alignment 2^{p} does not fit in 32 bits"),
                        )
                    })
                };
                lib.mem_info = MemInfo {
                    memory_size: m.memory_size,
                    memory_alignment: pow(m.memory_alignment, "memory")?,
                    table_size: m.table_size,
                    table_alignment: pow(m.table_alignment, "table")?,
                };
            }
            Dylink0Subsection::Needed(n) => lib.needed.extend(n),
            Dylink0Subsection::ExportInfo(e) => lib
                .export_info
                .extend(e.iter().map(|e| (e.name, e.flags.bits()))),
            Dylink0Subsection::ImportInfo(i) => lib
                .import_info
                .extend(i.iter().map(|i| (i.module, i.field, i.flags.bits()))),
            Dylink0Subsection::RuntimePath(r) => lib.runtime_path.extend(r),
            Dylink0Subsection::TargetArch(a) => lib.target_arch = Some(a),
            Dylink0Subsection::Unknown { ty, .. } => lib
                .warnings
                .push(Warning::new(at, WarningKind::UnknownDylinkSubsection(ty))),
        }
    }
    Ok(())
}

/// How errors name a `dylink.0` subsection, by id.
fn subsection_name(id: u8) -> &'static str {
    match id {
        1 => "dylink.0 MEM_INFO subsection",
        2 => "dylink.0 NEEDED subsection",
        3 => "dylink.0 EXPORT_INFO subsection",
        4 => "dylink.0 IMPORT_INFO subsection",
        5 => "dylink.0 RUNTIME_PATH subsection",
        6 => "dylink.0 TARGET_ARCH subsection",
        _ => "dylink.0 subsection",
    }
}
