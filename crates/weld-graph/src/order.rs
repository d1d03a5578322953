//! Ordering: the dependency graph, pruning, the instantiation order (strongly connected
//! components, dependencies first, shims as few as possible), which imports need a shim, and the
//! initialization order.

use std::cmp::Reverse;
use std::collections::{BTreeSet, BinaryHeap, HashMap, VecDeque};

use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeRef;

use crate::{Binding, KeepReason, LibId, LibrarySet, PerLib, Problem, RootReason};

/// The libraries as nodes (node `i` is library `i`), with an edge importer → exporter for every
/// NEEDED entry and every library referred to, weighted by the direct `env` imports along it.
pub(crate) struct Dependencies {
    graph: DiGraph<LibId, u32>,
}

impl Dependencies {
    /// The graph over all libraries. A library reaching its own data or function addresses
    /// through the GOT (as every `-fPIC` library with default visibility does) is no
    /// dependency; calling its own export through `env` is (it needs a shim).
    pub(crate) fn new(
        set: &LibrarySet<'_>,
        needed: &PerLib<Vec<LibId>>,
        references: &PerLib<HashMap<LibId, u32>>,
    ) -> Self {
        let mut graph: DiGraph<LibId, u32> = DiGraph::with_capacity(set.len(), 0);
        for id in set.ids() {
            graph.add_node(id);
        }
        for (from, deps) in needed.iter() {
            for &to in deps {
                graph.update_edge(node(from), node(to), 0);
            }
        }
        for (from, refs) in references.iter() {
            let mut sorted: Vec<(LibId, u32)> = refs.iter().map(|(&j, &w)| (j, w)).collect();
            sorted.sort_unstable();
            for (to, w) in sorted {
                if from == to && w == 0 {
                    continue;
                }
                let e = graph.update_edge(node(from), node(to), 0);
                if let Some(weight) = graph.edge_weight_mut(e) {
                    *weight = weight.saturating_add(w);
                }
            }
        }
        Dependencies { graph }
    }

    /// Pruning: breadth-first search from the roots along every edge, neighbours in input
    /// order. Roots are the `component_roots`, then dl-openable libraries, then `_start`
    /// exporters.
    pub(crate) fn prune(
        &self,
        set: &LibrarySet<'_>,
        component_roots: &PerLib<bool>,
        starts: &[LibId],
    ) -> PerLib<Option<KeepReason>> {
        let mut kept = set.per_lib(|id, _| {
            let reason = if component_roots[id] {
                Some(RootReason::ComponentExports)
            } else if set.is_dl_openable(id) {
                Some(RootReason::DlOpenable)
            } else if starts.contains(&id) {
                Some(RootReason::Start)
            } else {
                None
            };
            reason.map(KeepReason::Root)
        });
        let mut queue: VecDeque<LibId> = kept
            .iter()
            .filter(|(_, k)| k.is_some())
            .map(|(id, _)| id)
            .collect();
        while let Some(id) = queue.pop_front() {
            let mut next: Vec<LibId> = self
                .graph
                .neighbors(node(id))
                .filter_map(|n| self.graph.node_weight(n).copied())
                .collect();
            next.sort_unstable();
            for to in next {
                if kept[to].is_none() {
                    kept[to] = Some(KeepReason::ReferencedBy(id));
                    queue.push_back(to);
                }
            }
        }
        kept
    }

    /// The instantiation order of the kept libraries and the cycles among them.
    pub(crate) fn instantiation(&self, kept: &PerLib<Option<KeepReason>>) -> Instantiation {
        let graph = self
            .graph
            .filter_map(|_, &id| kept[id].is_some().then_some(id), |_, &w| Some(w));
        let mut order = Vec::new();
        let mut cycles = Vec::new();
        for scc in ordered_sccs(&graph) {
            let self_loop =
                scc.len() == 1 && scc.first().is_some_and(|&n| graph.contains_edge(n, n));
            let members: Vec<LibId> = order_within_scc(&graph, &scc)
                .iter()
                .filter_map(|&n| graph.node_weight(n).copied())
                .collect();
            if scc.len() > 1 || self_loop {
                cycles.push(members.clone());
            }
            order.extend(members);
        }
        Instantiation { order, cycles }
    }
}

fn node(id: LibId) -> NodeIndex {
    NodeIndex::new(id.index())
}

/// The instantiation order and the cycles found on the way.
pub(crate) struct Instantiation {
    /// Kept libraries, dependencies first.
    pub(crate) order: Vec<LibId>,
    /// Components of more than one library, and libraries calling their own exports.
    pub(crate) cycles: Vec<Vec<LibId>>,
}

/// Marks every `env` function binding whose exporter is not instantiated before the importer
/// (self-imports included) as needing a shim; a tag imported that way is a problem, since tags
/// cannot go through a shim.
pub(crate) fn mark_shims(
    set: &LibrarySet<'_>,
    bindings: &mut PerLib<Vec<Binding>>,
    order: &[LibId],
    problems: &mut Vec<Problem>,
) {
    let mut position: PerLib<Option<usize>> = set.per_lib(|_, _| None);
    for (p, &id) in order.iter().enumerate() {
        position[id] = Some(p);
    }
    // Pruned libraries have no position: they come "after" everything.
    let pos = |id: LibId| position[id].unwrap_or(usize::MAX);
    // Problems in input order of the importers.
    for importer in set.ids().filter(|&id| position[id].is_some()) {
        let imports = &set[importer].imports;
        for (b, import) in bindings[importer].iter_mut().zip(imports) {
            match b {
                Binding::Function { target, shim } => {
                    *shim = pos(target.library()) >= pos(importer)
                }
                Binding::Tag(target) if pos(target.library()) >= pos(importer) => {
                    problems.push(Problem::CircularTag {
                        library: set.name(importer).to_string(),
                        name: import.name.to_string(),
                        exporter: set.name(target.library()).to_string(),
                    });
                }
                _ => {}
            }
        }
    }
}

/// The initialization order: NEEDED only, dependencies first, ties and the members of a NEEDED
/// cycle in input order.
pub(crate) fn initialization(
    set: &LibrarySet<'_>,
    needed: &PerLib<Vec<LibId>>,
    kept: &PerLib<Option<KeepReason>>,
) -> Vec<LibId> {
    let mut graph: DiGraph<LibId, u32> = DiGraph::new();
    let nodes: PerLib<Option<NodeIndex>> =
        set.per_lib(|id, _| kept[id].is_some().then(|| graph.add_node(id)));
    for (from, deps) in needed.iter() {
        for &to in deps {
            if let (Some(a), Some(b)) = (nodes[from], nodes[to]) {
                graph.update_edge(a, b, 0);
            }
        }
    }
    let mut order = Vec::new();
    for scc in ordered_sccs(&graph) {
        let mut members: Vec<LibId> = scc
            .iter()
            .filter_map(|&n| graph.node_weight(n).copied())
            .collect();
        members.sort_unstable();
        order.extend(members);
    }
    order
}

/// Strongly connected components in dependency-first order (for an edge a→b, b's component comes
/// first), ties broken by the smallest library in each component.
fn ordered_sccs<E>(graph: &DiGraph<LibId, E>) -> Vec<Vec<NodeIndex>> {
    let sccs = petgraph::algo::tarjan_scc(graph);
    let mut comp_of = vec![0usize; graph.node_count()];
    for (c, scc) in sccs.iter().enumerate() {
        for n in scc {
            if let Some(slot) = comp_of.get_mut(n.index()) {
                *slot = c;
            }
        }
    }
    let component = |n: NodeIndex| comp_of.get(n.index()).copied().unwrap_or(0);
    let key: Vec<Option<LibId>> = sccs
        .iter()
        .map(|scc| {
            scc.iter()
                .filter_map(|&n| graph.node_weight(n).copied())
                .min()
        })
        .collect();
    // Kahn's algorithm on the condensation, following edges backwards (dependencies first).
    let mut pending = vec![0usize; sccs.len()];
    let mut dependants: Vec<Vec<usize>> = vec![Vec::new(); sccs.len()];
    for e in graph.edge_references() {
        let (ca, cb) = (component(e.source()), component(e.target()));
        if ca != cb {
            if let Some(p) = pending.get_mut(ca) {
                *p += 1;
            }
            if let Some(d) = dependants.get_mut(cb) {
                d.push(ca);
            }
        }
    }
    let key_of = |c: usize| key.get(c).copied().flatten();
    let mut heap: BinaryHeap<Reverse<(Option<LibId>, usize)>> = pending
        .iter()
        .enumerate()
        .filter(|(_, p)| **p == 0)
        .map(|(c, _)| Reverse((key_of(c), c)))
        .collect();
    let mut sccs: Vec<Option<Vec<NodeIndex>>> = sccs.into_iter().map(Some).collect();
    let mut out = Vec::with_capacity(sccs.len());
    while let Some(Reverse((_, c))) = heap.pop() {
        if let Some(scc) = sccs.get_mut(c).and_then(Option::take) {
            out.push(scc);
        }
        for &d in dependants.get(c).map_or(&[][..], |v| &v[..]) {
            if let Some(p) = pending.get_mut(d) {
                *p -= 1;
                if *p == 0 {
                    heap.push(Reverse((key_of(d), d)));
                }
            }
        }
    }
    out
}

/// Orders the members of one strongly connected component so that few function imports point at
/// a library instantiated later (a greedy feedback-arc-set heuristic after Eades, Lin and Smyth):
/// libraries whose remaining imports are all satisfied go next; libraries nobody remaining imports
/// from go last; otherwise the library that most others import from, relative to what it imports
/// itself, goes next. Ties go to the lowest input index.
fn order_within_scc(graph: &DiGraph<LibId, u32>, scc: &[NodeIndex]) -> Vec<NodeIndex> {
    if scc.len() <= 1 {
        return scc.to_vec();
    }
    let mut members: Vec<NodeIndex> = scc.to_vec();
    members.sort_by_key(|&n| graph.node_weight(n).copied());
    let idx_of: HashMap<NodeIndex, usize> =
        members.iter().enumerate().map(|(i, &n)| (n, i)).collect();
    // out_w[i]: imports of i from remaining members; in_w[i]: imports of remaining members from i.
    let mut out_w = vec![0i64; members.len()];
    let mut in_w = vec![0i64; members.len()];
    let mut outs: Vec<Vec<(usize, i64)>> = vec![Vec::new(); members.len()];
    let mut ins: Vec<Vec<(usize, i64)>> = vec![Vec::new(); members.len()];
    for (i, &n) in members.iter().enumerate() {
        for e in graph.edges(n) {
            // Only edges to other members of the component matter here.
            let Some(&j) = idx_of.get(&e.target()).filter(|_| e.target() != n) else {
                continue;
            };
            let w = i64::from(*e.weight());
            for (list, at, other) in [(&mut outs, i, j), (&mut ins, j, i)] {
                if let Some(v) = list.get_mut(at) {
                    v.push((other, w));
                }
            }
            for (sum, at) in [(&mut out_w, i), (&mut in_w, j)] {
                if let Some(x) = sum.get_mut(at) {
                    *x += w;
                }
            }
        }
    }
    let mut remaining: BTreeSet<usize> = (0..members.len()).collect();
    let mut front = Vec::new();
    let mut back = Vec::new();
    while !remaining.is_empty() {
        let get = |v: &[i64], i: usize| v.get(i).copied().unwrap_or(0);
        let chosen_front = remaining.iter().copied().find(|&i| get(&out_w, i) == 0);
        let (pick, to_front) = if let Some(i) = chosen_front {
            (i, true)
        } else if let Some(i) = remaining.iter().copied().find(|&i| get(&in_w, i) == 0) {
            (i, false)
        } else {
            let best = remaining
                .iter()
                .copied()
                .max_by_key(|&i| (get(&in_w, i) - get(&out_w, i), Reverse(i)))
                .unwrap_or(0);
            (best, true)
        };
        remaining.remove(&pick);
        for &(j, w) in outs.get(pick).map_or(&[][..], |v| &v[..]) {
            if let Some(x) = in_w.get_mut(j) {
                *x -= w;
            }
        }
        for &(j, w) in ins.get(pick).map_or(&[][..], |v| &v[..]) {
            if let Some(x) = out_w.get_mut(j) {
                *x -= w;
            }
        }
        if let Some(&n) = members.get(pick) {
            if to_front {
                front.push(n);
            } else {
                back.push(n);
            }
        }
    }
    back.reverse();
    front.extend(back);
    front
}
