//! `cargo xtask conformance`: every case of wit-component's linking test suite, linked by weld and
//! by wit-component's reference `Linker`; a case passes when weld produces a validating component
//! with the same WIT world (or, for `error-*` cases, both fail).

use anyhow::{Result, bail};
use weld_tests::{Verdict, conformance, link_cases};

pub fn run(args: &[String]) -> Result<()> {
    let verbose = args.iter().any(|a| a == "-v" || a == "--verbose");
    if let Some(a) = args.iter().find(|a| *a != "-v" && *a != "--verbose") {
        bail!("`conformance` takes only -v (got `{a}`)");
    }
    let cases = link_cases();
    let mut passed = 0;
    for case in &cases {
        match conformance(case) {
            Verdict::Pass => {
                passed += 1;
                println!("pass {case}");
            }
            Verdict::Fail(why) => {
                let first = why.lines().next().unwrap_or_default();
                println!("FAIL {case}: {first}");
                if verbose {
                    for line in why.lines().skip(1) {
                        println!("     {line}");
                    }
                }
            }
        }
    }
    println!("conformance: {passed}/{} cases", cases.len());
    if passed != cases.len() {
        bail!("{} conformance case(s) fail", cases.len() - passed);
    }
    Ok(())
}
