//! The link, as its stages: parse, decode worlds, resolve, merge worlds and choose export
//! implementers, synthesize, encode and append, validate, report. The inputs' code is validated
//! on background threads from the start (see [`crate::validate`]).

use std::borrow::Cow;
use std::ops::Range;

use weld_graph::{Duplicate, LibrarySet, Link, Options as GraphOptions, PerLib, ResolveError};
use weld_module::Library;
use weld_synth::{SynthOptions, Synthesized};
use wit_component::metadata::Bindgen;

use crate::validate::{self, InputValidation};
use crate::{
    InvalidInput, InvalidOutput, LibdlNameTaken, LinkError, LinkOptions, Linked, ReportWarning,
    append, encode, fusion, report, world,
};

/// One input library.
#[derive(Clone, Debug)]
pub(crate) struct Input<'a> {
    pub(crate) name: String,
    pub(crate) bytes: Cow<'a, [u8]>,
    pub(crate) dl_openable: bool,
}

/// What [`crate::Linker::encode_with`] runs on the assembled bytes.
pub(crate) type Early<'e> = Box<dyn FnOnce(&[u8]) + Send + 'e>;

/// Links `inputs` (plus the built-in libdl when asked for).
pub(crate) fn link(
    inputs: &[Input<'_>],
    options: &LinkOptions,
    early: Option<Early<'_>>,
) -> Result<Linked, LinkError> {
    link_hosting(inputs, &Hosting::default(), options, early)
}

/// What a link of a fused library knows of its dl-openable parts and of the data it left to
/// the linker (see [`crate::fusion`]).
#[derive(Default)]
pub(crate) struct Hosting<'h> {
    /// Dl-openable parts: (the position of the input holding it, the part, whether it is
    /// loaded by its first `dlopen`).
    pub(crate) dlopen: Vec<(usize, &'h weld_fuse::DlopenPart, bool)>,
    /// Data left to the linker: (the position of the input whose region holds it, the offset
    /// in that region, the bytes).
    pub(crate) data: Vec<(usize, u32, &'h [u8])>,
}

impl<'h> Hosting<'h> {
    /// Synthesis options: `options`' stack size, the dl-openable parts and the hosted data.
    fn synth_options(&self, set: &LibrarySet<'_>, options: &LinkOptions) -> SynthOptions<'h> {
        let mut synth = SynthOptions::default();
        synth.stack_size = options.stack_size;
        synth.fused_parts = self.fused_parts(set);
        synth.hosted_data = self
            .data
            .iter()
            .filter_map(|&(host, offset, bytes)| {
                Some(weld_synth::HostedData::new(set.id_at(host)?, offset, bytes))
            })
            .collect();
        synth
    }

    /// The dl-openable parts, for synthesis.
    fn fused_parts(&self, set: &LibrarySet<'_>) -> Vec<weld_synth::FusedPart> {
        self.dlopen
            .iter()
            .filter_map(|&(host, part, deferred)| {
                Some(weld_synth::FusedPart::new(
                    part.name.clone(),
                    set.id_at(host)?,
                    part.symbols.clone(),
                    deferred,
                    part.constructor.clone(),
                ))
            })
            .collect()
    }
}

/// Links `inputs` (plus the built-in libdl when asked for), some of which hold fused parts.
pub(crate) fn link_hosting(
    inputs: &[Input<'_>],
    hosting: &Hosting<'_>,
    options: &LinkOptions,
    early: Option<Early<'_>>,
) -> Result<Linked, LinkError> {
    check_libdl_name(inputs, options)?;
    let libdl = options
        .use_built_in_libdl
        .then(weld_synth::libdl::libdl_module);
    let all: Vec<(&str, &[u8], bool)> = inputs
        .iter()
        .map(|i| (i.name.as_str(), i.bytes.as_ref(), i.dl_openable))
        .chain(
            libdl
                .as_deref()
                .map(|b| (weld_synth::libdl::LIBDL_NAME, b, false)),
        )
        .collect();
    if options.fuse {
        return fusion::link(&all, libdl.is_some(), options, early);
    }
    // Checking the libraries' code is most of validation's cost; it starts at once, on other
    // threads, and overlaps with everything else.
    let queue = validate::Queue::new(all.len());
    std::thread::scope(|scope| {
        let background = options.validate.then(|| {
            InputValidation::start(scope, &queue, all.iter().map(|(_, b, _)| *b).collect())
        });
        link_in_scope(&all, hosting, options, early, background)
    })
}

/// Stage 0: with the built-in libdl, its name must be free (a NEEDED entry naming it would
/// otherwise be ambiguous).
fn check_libdl_name(inputs: &[Input<'_>], options: &LinkOptions) -> Result<(), LinkError> {
    let name = weld_synth::libdl::LIBDL_NAME;
    match inputs.iter().position(|i| i.name == name) {
        Some(position) if options.use_built_in_libdl => {
            Err(LinkError::LibdlNameTaken(LibdlNameTaken {
                name: name.to_string(),
                position,
            }))
        }
        _ => Ok(()),
    }
}

/// The link proper, with the inputs' validation (if any) under way.
fn link_in_scope(
    all: &[(&str, &[u8], bool)],
    hosting: &Hosting<'_>,
    options: &LinkOptions,
    early: Option<Early<'_>>,
    background: Option<InputValidation<'_, '_>>,
) -> Result<Linked, LinkError> {
    let set = parse(all)?;
    let worlds = world::decode(&set)?;
    let link = resolve(&set, &worlds, options)?;
    if let Some(v) = &background {
        v.prune(|i| set.id_at(i).is_some_and(|id| link.is_kept(id)));
    }
    let synth_options = hosting.synth_options(&set, options);
    let assembled = assemble(&set, &link, worlds, options, &synth_options);
    let (input_errors, structure) = finish_validation(&assembled, early, background, options);
    let bad: Vec<InvalidInput> = input_errors
        .into_iter()
        .filter_map(|(i, e)| {
            let id = set.id_at(i)?;
            link.is_kept(id).then(|| InvalidInput {
                library: set.name(id).to_string(),
                offset: e.offset(),
                message: e.message().to_string(),
            })
        })
        .collect();
    if !bad.is_empty() {
        return Err(LinkError::InvalidInput(bad));
    }
    let Assembled {
        component,
        synth,
        export_duplicates,
        component_exports,
        placement,
        ..
    } = assembled?;
    if let Err(e) = structure {
        return Err(LinkError::Invalid(InvalidOutput {
            offset: e.offset(),
            message: e.message().to_string(),
        }));
    }
    let mut report = report::make(&report::Facts {
        set: &set,
        link: &link,
        synth: &synth,
        export_duplicates: &export_duplicates,
        placement: &placement,
    });
    if component_exports == 0
        && let Some(start) = link.start
    {
        report.warnings.push(ReportWarning::StartNotExported {
            library: set.name(start).to_string(),
        });
    }
    Ok(Linked { component, report })
}

/// Stage 1: every input parsed; all parse errors at once.
pub(crate) fn parse<'a>(all: &[(&'a str, &'a [u8], bool)]) -> Result<LibrarySet<'a>, LinkError> {
    let mut libs: Vec<(Library<'a>, bool)> = Vec::with_capacity(all.len());
    let mut errors = Vec::new();
    for &(name, bytes, dl_openable) in all {
        match Library::parse(name, bytes) {
            Ok(lib) => libs.push((lib, dl_openable)),
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(LibrarySet::new(libs))
    } else {
        Err(LinkError::Parse(errors))
    }
}

/// Stage 3: resolution, with the libraries that have component exports as roots.
pub(crate) fn resolve<'a>(
    set: &LibrarySet<'a>,
    worlds: &PerLib<Option<Bindgen>>,
    options: &LinkOptions,
) -> Result<Link<'a>, LinkError> {
    let mut graph_options = GraphOptions::default();
    graph_options.stub_missing_functions = options.stub_missing_functions;
    graph_options.duplicate_symbols_are_errors = options.duplicate_symbols_are_errors;
    let roots = world::summary(worlds).map(|_, w| w == &Some(true));
    weld_graph::resolve(set, &roots, &graph_options).map_err(|mut e| {
        e.searched = options
            .search_dirs
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        LinkError::Resolve(e)
    })
}

/// The output of [`assemble`].
struct Assembled<'a> {
    component: Vec<u8>,
    /// Byte ranges of `component` whose function bodies are validated already: the encoder's
    /// output and each library.
    checked: Vec<Range<usize>>,
    /// The synthesized modules, for the report.
    synth: Synthesized,
    /// Component exports defined strongly by several libraries, for the report.
    export_duplicates: Vec<Duplicate<'a>>,
    /// How many exports the component has.
    component_exports: u32,
    /// Each kept library's core module and core instance indices.
    placement: PerLib<Option<(u32, u32)>>,
}

/// Stages 4–6: the merged world and who implements each export, the synthesized modules, and
/// the component (the main module encoded, the rest appended).
fn assemble<'a>(
    set: &LibrarySet<'a>,
    link: &Link<'a>,
    worlds: PerLib<Option<Bindgen>>,
    options: &LinkOptions,
    synth_options: &SynthOptions<'_>,
) -> Result<Assembled<'a>, LinkError> {
    let summary = world::summary(&worlds);
    let merged = world::merge(set, link, worlds)?;
    let exports = world::exports(set, link, merged.as_ref());
    if options.duplicate_symbols_are_errors && !exports.duplicates.is_empty() {
        let problems = exports.duplicates.iter().map(|d| d.problem(set)).collect();
        let inputs = set.iter().map(|(_, l)| l.name.to_string()).collect();
        return Err(LinkError::Resolve(ResolveError::new(problems, inputs)));
    }
    // In instantiation order, as the reference merges worlds (this orders the world's items).
    let custom: Vec<_> = link
        .instantiation_order
        .iter()
        .flat_map(|&i| set[i].component_types.iter().copied())
        .collect();
    let synth = weld_synth::synthesize(set, link, synth_options, &exports.shims, &custom)
        .map_err(LinkError::Synth)?;
    let c0 = encode::main_component(set, link, &synth.main, options)?;
    let appended = append::libraries(c0, set, &synth)?;
    // A component with `_start` but no exports is still a program, one an adapter had to
    // expose (a warning says so); with neither, nothing could use it.
    if appended.component_exports == 0 && link.start.is_none() {
        return Err(LinkError::NothingExported(world::nothing_exported(
            set, link, &summary,
        )));
    }
    Ok(Assembled {
        component: appended.component,
        checked: appended.checked,
        synth,
        export_duplicates: exports.duplicates,
        component_exports: appended.component_exports,
        placement: appended.placement,
    })
}

/// Stage 7: once the component exists, hands it out, checks its structure (every input's
/// bodies, and the encoder's output, are checked elsewhere), then helps with the inputs'
/// bodies. Returns the inputs' errors (by input position) and the structure's verdict.
fn finish_validation(
    assembled: &Result<Assembled<'_>, LinkError>,
    early: Option<Early<'_>>,
    background: Option<InputValidation<'_, '_>>,
    options: &LinkOptions,
) -> (
    Vec<(usize, wasmparser::BinaryReaderError)>,
    Result<(), wasmparser::BinaryReaderError>,
) {
    std::thread::scope(|inner| {
        let mut structure = Ok(());
        if let Ok(Assembled {
            component, checked, ..
        }) = assembled
        {
            if let Some(early) = early {
                inner.spawn(move || early(component));
            }
            if options.validate {
                structure = validate::validate_skipping(component, checked);
            }
        }
        let errors = background.map(|b| b.finish()).unwrap_or_default();
        (errors, structure)
    })
}
