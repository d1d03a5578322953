//! [`ResolveError`]: every problem that stopped resolution, arranged for one message — the
//! causes first (missing libraries), identical problems of many libraries grouped, long lists
//! cut short — in time linear in the problems.

use std::collections::HashMap;
use std::fmt;

use weld_module::text::escape;
use weld_module::{EntityType, abi};

use crate::problems::{Candidate, Expected, Problem, write_candidates, write_names, write_similar};

/// Every problem that stopped resolution.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ResolveError {
    /// The problems, in a stable order.
    pub problems: Vec<Problem>,
    /// The names of all inputs (for the message, when a NEEDED name is missing).
    pub inputs: Vec<String>,
    /// The directories libraries were searched in, if any (for the same message).
    pub searched: Vec<String>,
}

impl ResolveError {
    /// An error with `problems`, in a link of the inputs named `inputs`.
    pub fn new(problems: Vec<Problem>, inputs: Vec<String>) -> Self {
        ResolveError {
            problems,
            inputs,
            searched: Vec::new(),
        }
    }
}

impl Problem {
    /// Whether `--stub-missing-functions` would fix it: an `env` function nothing defines under
    /// any type.
    fn stub_would_help(&self) -> bool {
        matches!(self, Problem::Unresolved { expected: Expected::Entity(EntityType::Func(_)), module, .. }
            if module == abi::ENV)
    }
}

const STUB_HINT: &str =
    "hint: --stub-missing-functions links unresolved functions to stubs that trap when called";

/// The problems arranged for the message: missing libraries by name, unresolved imports by
/// import (those of one library alone by library), the rest in order.
struct Arranged<'p> {
    /// Missing name -> (its first problem, every library needing it).
    missing: Vec<(&'p Problem, Vec<&'p str>)>,
    others: Vec<&'p Problem>,
    /// Unresolved imports of several libraries: (the first problem, every importer).
    shared: Vec<(&'p Problem, Vec<&'p str>)>,
    /// Unresolved imports of one library each, by library in order of first appearance.
    by_library: Vec<(&'p str, Vec<&'p Problem>)>,
}

impl<'p> Arranged<'p> {
    fn new(problems: &'p [Problem]) -> Self {
        let mut missing: Vec<(&Problem, Vec<&str>)> = Vec::new();
        let mut missing_at: HashMap<&str, usize> = HashMap::new();
        let mut imports: Vec<(&Problem, Vec<&str>)> = Vec::new();
        let mut import_at: HashMap<UnresolvedKey<'p>, usize> = HashMap::new();
        let mut others = Vec::new();
        for p in problems {
            match p {
                Problem::MissingNeeded {
                    library, needed, ..
                } => match missing_at.get(needed.as_str()) {
                    Some(&i) => push_at(&mut missing, i, library),
                    None => {
                        missing_at.insert(needed, missing.len());
                        missing.push((p, vec![library.as_str()]));
                    }
                },
                Problem::Unresolved { library, .. } | Problem::TypeMismatch { library, .. } => {
                    let key = UnresolvedKey::of(p);
                    match import_at.get(&key) {
                        Some(&i) => push_at(&mut imports, i, library),
                        None => {
                            import_at.insert(key, imports.len());
                            imports.push((p, vec![library.as_str()]));
                        }
                    }
                }
                other => others.push(other),
            }
        }
        let mut shared = Vec::new();
        let mut by_library: Vec<(&str, Vec<&Problem>)> = Vec::new();
        let mut library_at: HashMap<&str, usize> = HashMap::new();
        for (p, importers) in imports {
            match importers.as_slice() {
                [one] => match library_at.get(one) {
                    Some(&i) => {
                        if let Some((_, v)) = by_library.get_mut(i) {
                            v.push(p);
                        }
                    }
                    None => {
                        library_at.insert(one, by_library.len());
                        by_library.push((one, vec![p]));
                    }
                },
                _ => shared.push((p, importers)),
            }
        }
        Arranged {
            missing,
            others,
            shared,
            by_library,
        }
    }
}

fn push_at<'p>(groups: &mut [(&'p Problem, Vec<&'p str>)], i: usize, library: &'p str) {
    if let Some((_, v)) = groups.get_mut(i) {
        v.push(library);
    }
}

/// What makes two unresolved imports of different libraries the same problem.
#[derive(PartialEq, Eq, Hash)]
struct UnresolvedKey<'p> {
    module: &'p str,
    name: &'p str,
    expected: &'p Expected,
    candidates: &'p [Candidate],
    more: usize,
}

impl<'p> UnresolvedKey<'p> {
    fn of(p: &'p Problem) -> Self {
        match p {
            Problem::TypeMismatch {
                module,
                name,
                expected,
                candidates,
                more_candidates,
                ..
            } => UnresolvedKey {
                module,
                name,
                expected,
                candidates,
                more: *more_candidates,
            },
            Problem::Unresolved {
                module,
                name,
                expected,
                ..
            } => UnresolvedKey {
                module,
                name,
                expected,
                candidates: &[],
                more: 0,
            },
            _ => UnresolvedKey {
                module: "",
                name: "",
                expected: &Expected::DataAddress,
                candidates: &[],
                more: 0,
            },
        }
    }
}

impl ResolveError {
    /// "; inputs are named …" (and the directories searched) after a missing library.
    fn write_inputs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.searched.is_empty() {
            f.write_str("; it is in none of the search directories ")?;
            write_names(
                f,
                self.searched.iter().map(String::as_str),
                self.searched.len(),
            )?;
        }
        if self.inputs.is_empty() {
            return Ok(());
        }
        f.write_str("; inputs are named ")?;
        write_names(f, self.inputs.iter().map(String::as_str), self.inputs.len())
    }

    /// One missing library and the libraries needing it.
    fn write_missing(
        &self,
        f: &mut fmt::Formatter<'_>,
        first: &Problem,
        needers: &[&str],
    ) -> fmt::Result {
        let Problem::MissingNeeded {
            needed, similar, ..
        } = first
        else {
            return Ok(());
        };
        if needers.len() == 1 {
            write!(f, "{first}")?;
        } else {
            write!(
                f,
                "`{}` is not among the inputs; add it (it is in the dylink.0 NEEDED of {} libraries: ",
                escape(needed),
                needers.len()
            )?;
            write_names(f, needers.iter().copied(), needers.len())?;
            f.write_str(")")?;
            write_similar(f, needed, similar)?;
        }
        self.write_inputs(f)
    }
}

/// One unresolved import, as a line under its library or its group.
fn write_import(f: &mut fmt::Formatter<'_>, p: &Problem) -> fmt::Result {
    match p {
        Problem::Unresolved {
            module,
            name,
            expected,
            ..
        } => write!(
            f,
            "`{}.{}` ({expected}): no library defines `{}`",
            escape(module),
            escape(name),
            escape(name)
        ),
        Problem::TypeMismatch {
            module,
            name,
            expected,
            candidates,
            more_candidates,
            ..
        } => {
            write!(
                f,
                "`{}.{}` ({expected}): defined with another type:",
                escape(module),
                escape(name)
            )?;
            write_candidates(f, candidates, *more_candidates)
        }
        _ => Ok(()),
    }
}

impl fmt::Display for ResolveError {
    /// The causes first: missing libraries, each with every library needing it; then the other
    /// problems; then unresolved imports, grouped by import when several libraries share one,
    /// else by library. The stub hint only when no library is missing.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hint = self.problems.iter().any(Problem::stub_would_help);
        let a = Arranged::new(&self.problems);
        let hint = hint && a.missing.is_empty();
        if let [only] = self.problems.as_slice() {
            match only {
                Problem::MissingNeeded { library, .. } => {
                    self.write_missing(f, only, &[library])?
                }
                _ => write!(f, "{only}")?,
            }
            if hint {
                write!(f, "\n{STUB_HINT}")?;
            }
            return Ok(());
        }
        write!(f, "{} problems:", self.problems.len())?;
        for (first, needers) in &a.missing {
            f.write_str("\n  - ")?;
            self.write_missing(f, first, needers)?;
        }
        for p in &a.others {
            write!(f, "\n  - {p}")?;
        }
        for (p, importers) in &a.shared {
            f.write_str("\n  - ")?;
            write_import(f, p)?;
            write!(f, "; imported by {} libraries: ", importers.len())?;
            write_names(f, importers.iter().copied(), importers.len())?;
        }
        for (library, problems) in &a.by_library {
            let n = problems.len();
            write!(
                f,
                "\n  - library `{}` has {n} unresolved import{}:",
                escape(library),
                if n == 1 { "" } else { "s" }
            )?;
            for p in problems {
                f.write_str("\n      ")?;
                write_import(f, p)?;
            }
        }
        if hint {
            write!(f, "\n{STUB_HINT}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ResolveError {}
