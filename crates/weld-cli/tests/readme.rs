//! The README's "Using it" section stays true: every command in its code blocks runs, from the
//! repository's root, with the `weld` built for these tests standing in for
//! `cargo run -q -p weld-cli --` (or an installed `weld`), and succeeds — or exits with 1 where
//! the line says `# exits with 1`.

use std::path::PathBuf;
use std::process::Command;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// How the README may spell the command.
const PREFIXES: [&str; 2] = ["cargo run -q -p weld-cli -- ", "weld "];

/// The lines of the `sh` code blocks of the section `## {title}`.
fn commands(readme: &str, title: &str) -> Vec<String> {
    let section = readme
        .split(&format!("\n## {title}\n"))
        .nth(1)
        .unwrap_or_else(|| panic!("no section `{title}`"));
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut out = Vec::new();
    let mut in_block = false;
    for line in section.lines() {
        match (in_block, line.trim()) {
            (false, "```sh") => in_block = true,
            (true, "```") => in_block = false,
            (true, "") => {}
            (true, command) => out.push(command.to_string()),
            _ => {}
        }
    }
    assert!(!in_block, "an unclosed code block in `{title}`");
    out
}

/// `command` with the test's `weld` in place of the README's spelling.
fn with_test_binary(command: &str) -> String {
    let weld = env!("CARGO_BIN_EXE_weld");
    let rest = PREFIXES
        .iter()
        .find_map(|p| command.strip_prefix(p))
        .unwrap_or_else(|| panic!("not a weld command: {command}"));
    format!("'{weld}' {rest}")
}

#[cfg(unix)]
#[test]
fn every_command_of_using_it_runs_as_written() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let commands = commands(&readme, "Using it");
    assert!(commands.len() >= 10, "{commands:?}");
    // A fresh clone has `target/` once cargo has built weld.
    std::fs::create_dir_all(root().join("target")).unwrap();
    for command in &commands {
        let expected = if command.contains("# exits with 1") {
            1
        } else {
            0
        };
        let res = Command::new("sh")
            .args(["-c", &with_test_binary(command)])
            .current_dir(root())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&res.stderr);
        assert_eq!(res.status.code(), Some(expected), "{command}\n{stderr}");
        assert!(!stderr.contains("panicked"), "{command}\n{stderr}");
    }
}

#[test]
fn the_quick_start_and_install_commands_are_the_documented_ones() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    assert_eq!(
        commands(&readme, "Quick start"),
        ["cargo xtask demo", "cargo test --workspace"]
    );
    assert_eq!(
        commands(&readme, "Install"),
        ["cargo install --locked --path crates/weld-cli"]
    );
}
