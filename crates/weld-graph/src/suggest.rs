//! Suggestions for misspelt library names.

/// Input names within a small edit distance of `wanted` (at most 3, sorted): close enough to be a
/// typo or another version (`libpython3.12.so` vs `libpython3.14.so`, `libc.so` vs `libc.so.6`).
/// Linear in the total length of the names: names whose length differs by more than the
/// distance allowed are not compared, and the comparison itself is banded.
pub(crate) fn similar_names<'a>(
    wanted: &str,
    names: impl Iterator<Item = &'a str>,
) -> Vec<&'a str> {
    // At most 2 edits, and at most one per 4 characters.
    let limit = (wanted.chars().count() / 4).min(2);
    let mut out: Vec<&str> = names
        .filter(|n| *n != wanted)
        .filter(|n| within(wanted, n, limit))
        .collect();
    out.sort_unstable();
    out.dedup();
    out.truncate(3);
    out
}

/// Whether the edit distance between `a` and `b` is at most `k` (a diagonal band of the
/// Levenshtein matrix, so `O((len a) * (2k + 1))`).
fn within(a: &str, b: &str, k: usize) -> bool {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    if a.len().abs_diff(b.len()) > k {
        return false;
    }
    edit_distance(&a, &b, k) <= k
}

/// The edit distance between `a` and `b`, or something larger than `k` when it exceeds `k`:
/// only cells within `k` of the diagonal are computed.
fn edit_distance(a: &[char], b: &[char], k: usize) -> usize {
    let big = k + 1;
    // prev[j] / cur[j]: distance between a[..i] and b[..j], for |i - j| <= k (else `big`).
    let mut prev: Vec<usize> = (0..=b.len())
        .map(|j| if j <= k { j } else { big })
        .collect();
    let mut cur = vec![big; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        let row = i + 1;
        let lo = row.saturating_sub(k);
        let hi = (row + k).min(b.len());
        // Only the band is computed; the cell left of it (or column 0) is set afresh, the cells
        // right of it have never been written. No row is cleared: linear in `a` times the band.
        if lo == 0 {
            if let Some(c) = cur.first_mut() {
                *c = row;
            }
        } else if let Some(c) = cur.get_mut(lo - 1) {
            *c = big;
        }
        for j in lo.max(1)..=hi {
            let cb = b.get(j - 1);
            let at = |v: &[usize], x: usize| v.get(x).copied().unwrap_or(big);
            let sub = at(&prev, j - 1) + usize::from(Some(ca) != cb);
            let del = at(&prev, j) + 1;
            let ins = at(&cur, j - 1) + 1;
            if let Some(c) = cur.get_mut(j) {
                *c = sub.min(del).min(ins).min(big);
            }
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev.last().copied().unwrap_or(big)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banded_distance_agrees_with_the_full_one() {
        let d = |a: &str, b: &str, k| {
            edit_distance(
                &a.chars().collect::<Vec<_>>(),
                &b.chars().collect::<Vec<_>>(),
                k,
            )
        };
        assert_eq!(d("libc.so", "libc.so.6", 2), 2);
        assert_eq!(d("libpython3.12.so", "libpython3.14.so", 2), 1);
        assert!(d("kitten", "sitting", 2) > 2);
        assert_eq!(d("kitten", "sitting", 3), 3);
        assert_eq!(d("", "ab", 2), 2);
        assert_eq!(
            similar_names(
                "libbase.so",
                ["libbse.so", "libapp.so", "libbase.so"].into_iter()
            ),
            ["libbse.so"]
        );
    }
}
