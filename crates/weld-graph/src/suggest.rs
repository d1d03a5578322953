//! Suggestions for misspelt library names.

/// Input names within a small edit distance of `wanted` (or sharing its stem before a digit).
pub(crate) fn similar_names<'a>(wanted: &str, names: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut out: Vec<String> = names
        .filter(|n| *n != wanted)
        .filter(|n| {
            // Close enough to be a typo or another version: `libpython3.12.so` vs
            // `libpython3.14.so`, `libc.so` vs `libc.so.6`.
            let d = edit_distance(wanted, n);
            d <= 2 && d * 4 <= wanted.len()
        })
        .map(str::to_string)
        .collect();
    out.sort();
    out.truncate(3);
    out
}

fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        if let Some(c) = cur.first_mut() {
            *c = i + 1;
        }
        for (j, cb) in b.iter().enumerate() {
            let sub = prev.get(j).copied().unwrap_or(0) + usize::from(ca != cb);
            let del = prev.get(j + 1).copied().unwrap_or(0) + 1;
            let ins = cur.get(j).copied().unwrap_or(0) + 1;
            if let Some(c) = cur.get_mut(j + 1) {
                *c = sub.min(del).min(ins);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(0)
}
