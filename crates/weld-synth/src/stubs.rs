//! The stubs module: one function per stub of the link, each trapping (`unreachable`) when
//! called, exported under the stub's name (`name:N` for the N-th other signature of a name).

use std::collections::HashMap;

use wasm_encoder::{Function, Module};
use weld_graph::Link;

use crate::builder::ModuleBuilder;

/// The stubs module, when the link has stubs.
pub(crate) struct StubsModule {
    /// The module's bytes.
    pub(crate) bytes: Vec<u8>,
    /// Each stub's export name, by stub index.
    pub(crate) names: Vec<String>,
}

/// Builds the stubs module, or `None` when nothing is stubbed.
pub(crate) fn build(link: &Link<'_>) -> Option<StubsModule> {
    if link.stubs.is_empty() {
        return None;
    }
    let mut b = ModuleBuilder::default();
    let mut used: HashMap<&str, u32> = HashMap::new();
    let mut names = Vec::with_capacity(link.stubs.len());
    for stub in &link.stubs {
        let n = used.entry(stub.name).or_default();
        let name = if *n == 0 {
            stub.name.to_string()
        } else {
            format!("{}:{n}", stub.name)
        };
        *n += 1;
        let mut body = Function::new([]);
        body.instructions().unreachable().end();
        let index = b.function(&stub.sig, &body);
        b.export_func(&name, index);
        names.push(name);
    }
    let mut module = Module::new();
    module
        .section(&b.types)
        .section(&b.functions)
        .section(&b.exports)
        .section(&b.code);
    Some(StubsModule {
        bytes: module.finish(),
        names,
    })
}
