//! The `weld` binary, run as a user would.

use std::path::PathBuf;
use std::process::{Command, Output};

fn weld(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run weld")
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("weld-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// Reads the component at `path` and checks that it validates with every feature enabled.
fn valid_component(path: &std::path::Path) -> Vec<u8> {
    let bytes = std::fs::read(path).unwrap();
    wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
        .validate_all(&bytes)
        .unwrap();
    bytes
}

/// Links the fixture program into `out` and checks that it succeeded.
fn link_program(out: &str) {
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    args.extend(["-o", out]);
    let res = weld(&args);
    assert!(res.status.success(), "{}", text(&res.stderr));
}

const PROGRAM: [&str; 5] = [
    "tests/fixtures/libmain.so",
    "tests/fixtures/libpong.so",
    "tests/fixtures/libping.so",
    "tests/fixtures/libapp.so",
    "tests/fixtures/libbase.so",
];

#[test]
fn inspect_prints_dylink_imports_and_exports() {
    let out = weld(&["inspect", "tests/fixtures/libapp.so"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = text(&out.stdout);
    assert!(s.contains("needed: libbase.so"), "{s}");
    assert!(
        s.contains("dylink.0 mem-info: memory 4 bytes align 4"),
        "{s}"
    );
    assert!(s.contains("got-mem       GOT.mem.base_counter"), "{s}");
    assert!(s.contains("got-func      GOT.func.base_add"), "{s}");
    assert!(
        s.contains("function      env.base_add: function [i32 i32] -> [i32]"),
        "{s}"
    );
    assert!(s.contains("call-ctors        __wasm_call_ctors"), "{s}");
}

#[test]
fn inspect_json_is_stable_and_complete() {
    let a = weld(&[
        "inspect",
        "--json",
        "tests/fixtures/libbase.so",
        "tests/fixtures/libmain.so",
    ]);
    let b = weld(&[
        "inspect",
        "--json",
        "tests/fixtures/libbase.so",
        "tests/fixtures/libmain.so",
    ]);
    assert!(a.status.success(), "{}", text(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    let s = text(&a.stdout);
    assert!(
        s.starts_with("{\"libraries\": [{\"name\": \"tests/fixtures/libbase.so\""),
        "{s}"
    );
    assert!(s.contains("\"role\": \"data\""), "{s}");
    assert!(
        s.contains("\"component_type_sections\": [\"component-type\"]"),
        "{s}"
    );
    assert!(s.contains("\"class\": \"got-mem\""), "{s}");
}

#[test]
fn link_writes_a_valid_component_and_explains_with_v() {
    let out_path = tmp("program.wasm");
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    let out_str = out_path.to_str().unwrap();
    args.extend(["-o", out_str, "-v"]);
    let out = weld(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(err.contains("weld: keep  libmain.so: root"), "{err}");
    assert!(
        err.contains("weld: dependency cycle: libpong.so <-> libping.so"),
        "{err}"
    );
    // Dependencies first; the cycle (given before libapp) is initialized before libapp.
    assert!(
        err.contains("initialization order (NEEDED dependencies first): libbase.so, libpong.so, libping.so, libapp.so, libmain.so"),
        "{err}"
    );
    valid_component(&out_path);
}

#[test]
fn link_text_output_and_validate_flag() {
    let out_path = tmp("program.wat");
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    let out_str = out_path.to_str().unwrap();
    args.extend(["-o", out_str, "-t", "--validate=false"]);
    let out = weld(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let s = std::fs::read_to_string(&out_path).unwrap();
    assert!(s.starts_with("(component"), "{}", &s[..40.min(s.len())]);
}

#[test]
fn names_given_with_name_equals_file() {
    let out_path = tmp("renamed.wasm");
    let out = weld(&[
        "link",
        "tests/fixtures/libmain.so",
        "tests/fixtures/libpong.so",
        "tests/fixtures/libping.so",
        "tests/fixtures/libapp.so",
        "libbase.so=tests/fixtures/libbase.so",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn errors_are_reported_with_exit_status_1() {
    let out_path = tmp("missing.wasm");
    let out = weld(&[
        "link",
        "tests/fixtures/libapp.so",
        "-o",
        out_path.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "library `libapp.so` needs `libbase.so` (dylink.0 NEEDED), but no input has that name"
        ),
        "{err}"
    );
    let out = weld(&["link", "no/such/file.so", "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("cannot read `no/such/file.so`"));
}

#[test]
fn malformed_input_names_file_library_and_offset() {
    let bad = tmp("bad.so");
    // A valid header followed by a truncated section.
    std::fs::write(&bad, b"\0asm\x01\0\0\0\x01\x05\x01").unwrap();
    let out_path = tmp("bad.wasm");
    let spec = format!("libbad.so={}", bad.display());
    let out = weld(&["link", &spec, "-o", out_path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("malformed input"), "{err}");
    assert!(
        err.contains(&format!(
            "`{}` (library `libbad.so`): at byte offset 0x",
            bad.display()
        )),
        "{err}"
    );
}

#[test]
fn duplicate_symbols_warn_by_default_and_can_be_errors() {
    let dir = tmp("dups");
    std::fs::create_dir_all(&dir).unwrap();
    let lib = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let a = lib("a.wat", r#"(module (@dylink.0) (func (export "f")))"#);
    let b = lib("b.wat", r#"(module (@dylink.0) (func (export "f")))"#);
    let user = lib(
        "user.wat",
        r#"(module (@dylink.0) (import "env" "f" (func)) (func (export "_start") call 0))"#,
    );
    let out_path = dir.join("out.wasm");
    let out_str = out_path.to_str().unwrap();
    let out = weld(&["link", &user, &a, &b, "-o", out_str]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("warning: symbol `f` is defined by a.wat and also by b.wat"),
        "{}",
        text(&out.stderr)
    );
    let out = weld(&[
        "link",
        &user,
        &a,
        &b,
        "-o",
        out_str,
        "--duplicate-symbols=error",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error: symbol `f` is defined by `a.wat` and also by `b.wat`"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn accepts_every_wasm_tools_component_link_option() {
    let dir = tmp("parity");
    std::fs::create_dir_all(&dir).unwrap();
    let plugin = dir.join("plugin.wat");
    std::fs::write(
        &plugin,
        r#"(module (@dylink.0) (func (export "f") (result i32) i32.const 7))"#,
    )
    .unwrap();
    let out = dir.join("out.wasm");
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    let dl = format!("plugin.so={}", plugin.display());
    let out_s = out.to_str().unwrap().to_string();
    args.extend([
        "--dl-openable",
        &dl,
        "--use-built-in-libdl",
        "--stub-missing-functions",
        "--stack-size",
        "65536",
        "--realloc-via-memory-grow",
        "--merge-imports-based-on-semver=false",
        "--emit-canonical-names",
        "--debug-names=false",
        "--return-call-ref=false",
        "--validate",
        "--color",
        "never",
        "-o",
        &out_s,
    ]);
    let res = weld(&args);
    assert!(res.status.success(), "{}", text(&res.stderr));
    valid_component(&out);
    // --skip-validation is accepted too.
    let mut args = vec!["link", "--skip-validation", "-o", &out_s];
    args.extend(PROGRAM);
    let res = weld(&args);
    assert!(res.status.success(), "{}", text(&res.stderr));
}

/// The output is written to a temporary file beside it and renamed into place only when the link
/// succeeds: a failed link leaves an earlier output as it was and no temporary file behind; a
/// replaced output keeps its permissions; outputs that are not regular files are written in
/// place.
#[test]
fn the_output_is_replaced_only_by_a_successful_link() {
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let dir = tmp("staging");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("app.wasm");
    let out_arg = out.to_str().unwrap();
    let leftovers = || {
        let mut names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };

    // A failed link (libapp.so needs libbase.so) with no earlier output: nothing is created.
    let failed = weld(&["link", "tests/fixtures/libapp.so", "-o", out_arg]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert_eq!(leftovers(), Vec::<String>::new());

    // A failed link with an earlier output: it is left alone.
    std::fs::write(&out, b"earlier").unwrap();
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o600)).unwrap();
    let failed = weld(&["link", "tests/fixtures/libapp.so", "-o", out_arg]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier");
    assert_eq!(leftovers(), ["app.wasm"]);

    // A link that fails after the component was assembled (and its writing begun): a library
    // whose code does not validate.
    let bad = tmp("invalid-code.wat");
    std::fs::write(
        &bad,
        r#"(module (@dylink.0)
            (import "env" "memory" (memory 0))
            (import "env" "__indirect_function_table" (table 0 funcref))
            (func (export "_start") i32.add))"#,
    )
    .unwrap();
    let failed = weld(&["link", bad.to_str().unwrap(), "-o", out_arg]);
    assert_eq!(failed.status.code(), Some(1), "{}", text(&failed.stderr));
    assert!(
        text(&failed.stderr).contains("is not a valid WebAssembly module"),
        "{}",
        text(&failed.stderr)
    );
    assert_eq!(std::fs::read(&out).unwrap(), b"earlier");
    assert_eq!(leftovers(), ["app.wasm"]);

    // A successful link replaces it, keeping its permissions.
    link_program(out_arg);
    let component = valid_component(&out);
    let mode = std::fs::metadata(&out).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(leftovers(), ["app.wasm"]);

    // A device is written in place (a rename would replace it).
    link_program("/dev/null");
    assert!(
        std::fs::metadata("/dev/null")
            .unwrap()
            .file_type()
            .is_char_device()
    );

    // A symbolic link is written through, not replaced.
    let target = dir.join("target.wasm");
    std::fs::write(&target, b"old").unwrap();
    let link = dir.join("via-link.wasm");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    link_program(link.to_str().unwrap());
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read(&target).unwrap(), component);
}

// ---------------------------------------------------------------------------------------------
// Robustness: staging, signals, closed pipes, messages for bad inputs
// ---------------------------------------------------------------------------------------------

/// The names of the staging files (`.NAME.weld-PID.tmp`) in `dir`.
fn staging_files(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.') && n.contains(".weld-") && n.ends_with(".tmp"))
        .collect()
}

/// A fresh empty directory for one test.
fn empty_dir(name: &str) -> PathBuf {
    let dir = tmp(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs weld with files limited to 8 blocks of 512 bytes (dash's `ulimit -f` unit): a longer
/// write fails with EFBIG, as on a full disk (SIGXFSZ, which would kill weld, is ignored).
#[cfg(unix)]
fn weld_on_a_full_disk(args: &[&str]) -> Output {
    Command::new("sh")
        .arg("-c")
        .arg(r#"trap '' XFSZ; ulimit -f 8; exec "$0" "$@""#)
        .arg(env!("CARGO_BIN_EXE_weld"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("run weld through sh")
}

/// Bytes unlike any component, larger than [`weld_on_a_full_disk`] can write.
fn earlier_output() -> Vec<u8> {
    (0..100_000u32).map(|i| (i % 251) as u8).collect()
}

/// When the staging file cannot be written (here: the file size limit, as on a full disk), the
/// link fails naming the output, the existing output is left byte for byte, and no staging file
/// remains.
#[cfg(unix)]
#[test]
fn a_failed_write_leaves_the_output_untouched() {
    let dir = empty_dir("full-disk");
    let out = dir.join("app.wasm");
    let earlier = earlier_output();
    std::fs::write(&out, &earlier).unwrap();
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    args.extend(["-o", out.to_str().unwrap()]);
    let res = weld_on_a_full_disk(&args);
    let err = text(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!("error: cannot write `{}`: ", out.display()))
            && err.contains("File too large"),
        "{err}"
    );
    assert!(
        std::fs::read(&out).unwrap() == earlier,
        "the output changed"
    );
    assert_eq!(staging_files(&dir), Vec::<String>::new());
}

/// An output name so long that `.NAME.weld-PID.tmp` would exceed NAME_MAX is staged under a
/// shortened name: the link succeeds without a leftover, and a failed write leaves the output.
#[cfg(unix)]
#[test]
fn long_output_names_are_staged() {
    let dir = empty_dir("long-name");
    let name = format!("{}.wasm", "x".repeat(245));
    let out = dir.join(&name);
    link_program(out.to_str().unwrap());
    valid_component(&out);
    assert_eq!(staging_files(&dir), Vec::<String>::new());

    let earlier = earlier_output();
    std::fs::write(&out, &earlier).unwrap();
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    args.extend(["-o", out.to_str().unwrap()]);
    let res = weld_on_a_full_disk(&args);
    assert_eq!(res.status.code(), Some(1), "{}", text(&res.stderr));
    assert!(
        std::fs::read(&out).unwrap() == earlier,
        "the output changed"
    );
    assert_eq!(staging_files(&dir), Vec::<String>::new());
}

/// A library with about `size` bytes of code: `_start` and functions made of `i32.const 0;
/// drop`, which keep weld's validation busy long enough to interrupt a link.
fn big_library(size: usize) -> Vec<u8> {
    use wasm_encoder::{
        CodeSection, ExportKind, ExportSection, Function, FunctionSection, Module, TypeSection,
    };
    const BODY: usize = 60_000;
    let count = u32::try_from(size / BODY + 1).unwrap();
    let mut types = TypeSection::new();
    types.ty().function([], []);
    let mut functions = FunctionSection::new();
    let mut body = Function::new([]);
    for _ in 0..BODY / 3 {
        body.instructions().i32_const(0).drop();
    }
    body.instructions().end();
    let mut code = CodeSection::new();
    for _ in 0..count {
        functions.function(0);
        code.function(&body);
    }
    let mut exports = ExportSection::new();
    exports.export("_start", ExportKind::Func, 0);
    let mut module = Module::new();
    module
        .section(&types)
        .section(&functions)
        .section(&exports)
        .section(&code);
    module.finish()
}

/// Starts `weld link LIBRARY -o OUT`, its stderr captured.
#[cfg(unix)]
fn start_link(library: &std::path::Path, out: &std::path::Path) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_weld"))
        .args([
            "link",
            library.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start weld")
}

/// Waits until `ready` holds while `child` runs; false if the child ends first.
#[cfg(unix)]
fn wait_while_running(child: &mut std::process::Child, mut ready: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(120) {
        if ready() {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    panic!("weld neither got ready nor ended in 120 s");
}

/// SIGTERM, SIGINT or SIGHUP while the component is being staged: the staging file is removed,
/// weld dies of the signal, and the earlier output is left as it was.
#[cfg(unix)]
#[test]
fn a_signal_removes_the_staging_file() {
    use std::os::unix::process::ExitStatusExt;
    let dir = empty_dir("signals");
    let library = dir.join("big.so");
    std::fs::write(&library, big_library(48 << 20)).unwrap();
    let out = dir.join("app.wasm");
    for signal in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP] {
        std::fs::write(&out, b"earlier").unwrap();
        let mut child = start_link(&library, &out);
        let staged = wait_while_running(&mut child, || !staging_files(&dir).is_empty());
        assert!(staged, "the link ended before its output was staged");
        // SAFETY: sends a signal to the child, which has not been waited for.
        assert_eq!(unsafe { libc::kill(child.id() as i32, signal) }, 0);
        let res = child.wait_with_output().unwrap();
        assert_eq!(
            res.status.signal(),
            Some(signal),
            "{:?}: {}",
            res.status,
            text(&res.stderr)
        );
        assert_eq!(staging_files(&dir), Vec::<String>::new(), "signal {signal}");
        assert_eq!(std::fs::read(&out).unwrap(), b"earlier");
    }
    std::fs::remove_file(&library).unwrap();
}

/// An input truncated while weld reads it (it is memory-mapped, so reading past the new end
/// faults with SIGBUS) is an error naming the file, not death by a signal; the staging file is
/// removed.
#[cfg(target_os = "linux")]
#[test]
fn an_input_truncated_during_the_link_is_an_error() {
    use std::os::unix::process::ExitStatusExt;
    let dir = empty_dir("truncated");
    let library = dir.join("big.so");
    let out = dir.join("app.wasm");
    for size in [48 << 20, 144 << 20] {
        std::fs::write(&library, big_library(size)).unwrap();
        let mut child = start_link(&library, &out);
        // Once the output is being staged, validation is reading the input on other threads.
        // (A truncation while weld parses the first page gives a parse error instead: the rest
        // of a file's last page reads as zeros.)
        let staged = wait_while_running(&mut child, || !staging_files(&dir).is_empty());
        std::fs::OpenOptions::new()
            .write(true)
            .open(&library)
            .unwrap()
            .set_len(100)
            .unwrap();
        let res = child.wait_with_output().unwrap();
        if !staged || res.status.success() {
            // The link ended before the truncation; try a larger input.
            continue;
        }
        let err = text(&res.stderr);
        assert_eq!(res.status.signal(), None, "{:?}: {err}", res.status);
        assert_eq!(res.status.code(), Some(1), "{err}");
        assert_eq!(
            err,
            format!(
                "error: input `{}` changed while weld was reading it (was it truncated?)\n",
                library.display()
            )
        );
        assert_eq!(staging_files(&dir), Vec::<String>::new());
        assert!(!out.exists());
        std::fs::remove_file(&library).unwrap();
        return;
    }
    let _ = std::fs::remove_file(&library);
    panic!("every link ended before its input was truncated");
}

/// The write end of a pipe whose read end is closed: writing to it fails with EPIPE.
#[cfg(unix)]
fn closed_pipe() -> std::process::Stdio {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `pipe` fills the two descriptors; the read end is closed at once and the write
    // end is owned from here on.
    unsafe {
        assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
        libc::close(fds[0]);
        std::process::Stdio::from(OwnedFd::from_raw_fd(fds[1]))
    }
}

/// Printing to a pipe nobody reads (`weld inspect … | head`, `weld link -v … 2>&1 | head`)
/// neither panics nor fails: inspect succeeds, and the link writes its output.
#[cfg(unix)]
#[test]
fn printing_to_a_closed_pipe_is_not_an_error() {
    for json in [false, true] {
        let mut args = vec!["inspect", "tests/fixtures/libapp.so"];
        if json {
            args.push("--json");
        }
        let res = Command::new(env!("CARGO_BIN_EXE_weld"))
            .args(&args)
            .current_dir(root())
            .stdout(closed_pipe())
            .output()
            .unwrap();
        let err = text(&res.stderr);
        assert!(res.status.success(), "{:?}: {err}", res.status);
        assert!(!err.contains("panicked"), "{err}");
    }

    let dir = empty_dir("closed-pipe");
    let out = dir.join("app.wasm");
    let mut args = vec!["link", "-v"];
    args.extend(PROGRAM);
    args.extend(["-o", out.to_str().unwrap()]);
    let res = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(&args)
        .current_dir(root())
        .stderr(closed_pipe())
        .output()
        .unwrap();
    assert!(res.status.success(), "{:?}", res.status);
    valid_component(&out);
    assert_eq!(staging_files(&dir), Vec::<String>::new());
}

/// Every file of `tests/bad-inputs/` with an expectation gives, through the `weld` command,
/// `error: ` and exactly the message the library API gives (see that directory's README).
#[test]
fn bad_inputs_give_the_expected_messages() {
    let dir = root().join("tests/bad-inputs");
    let out = tmp("bad-input.wasm");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n != "README.md" && !n.ends_with(".expect"))
        .collect();
    names.sort();
    let mut checked = 0;
    for name in names {
        let expect = ["cli.expect", "expect"]
            .iter()
            .find_map(|ext| std::fs::read_to_string(dir.join(format!("{name}.{ext}"))).ok());
        let Some(expect) = expect else {
            assert!(name.starts_with("fuzz-"), "{name} has no .expect");
            continue;
        };
        let expect = expect.trim_end_matches('\n');
        let res = Command::new(env!("CARGO_BIN_EXE_weld"))
            .args(["link", &name, "-o", out.to_str().unwrap()])
            .current_dir(&dir)
            .output()
            .unwrap();
        let err = text(&res.stderr);
        if expect == "ok" {
            assert!(res.status.success(), "{name}: {err}");
        } else {
            assert_eq!(res.status.code(), Some(1), "{name}: {err}");
            assert_eq!(err, format!("error: {expect}\n"), "{name}");
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} inputs checked");
}

/// WebAssembly text is compiled (its errors name the file); other bytes are left to the
/// linker, which says what they are, whatever the file's name.
#[test]
fn only_text_that_looks_like_wat_is_compiled() {
    let dir = empty_dir("text");
    let broken = dir.join("broken.wat");
    std::fs::write(
        &broken,
        ";; a library\n(module (func (export \"f\") i32.const))",
    )
    .unwrap();
    let elf = dir.join("native.wat");
    std::fs::write(&elf, b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0\x03\0").unwrap();
    let out = dir.join("out.wasm");
    let res = weld(&[
        "link",
        broken.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    let err = text(&res.stderr);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(
        err.starts_with(&format!(
            "error: `{}` is WebAssembly text that does not compile: ",
            broken.display()
        )) && err.contains(&format!("--> {}:2:", broken.display())),
        "{err}"
    );
    let res = weld(&["link", elf.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    let err = text(&res.stderr);
    assert!(
        err.contains("(library `native.wat`): at byte offset 0x0: an ELF shared object (a native library), not a WebAssembly module"),
        "{err}"
    );
}

/// `=FILE` (an empty NAME) is an error, not a file named `=FILE`.
#[test]
fn an_empty_name_is_an_error() {
    let out = tmp("empty-name.wasm");
    let res = weld(&[
        "link",
        "=tests/fixtures/libbase.so",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(
        text(&res.stderr),
        "error: empty NAME in `=tests/fixtures/libbase.so`: give `NAME=FILE` with a name, or only FILE to name the library after the file\n"
    );
}

/// A directory given as an input says so.
#[test]
fn a_directory_input_says_it_is_a_directory() {
    let out = tmp("directory.wasm");
    let res = weld(&["link", "tests/fixtures", "-o", out.to_str().unwrap()]);
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(
        text(&res.stderr),
        "error: cannot read `tests/fixtures`: it is a directory; expected a WebAssembly module\n"
    );
}

/// An output that is one of the inputs — by the same path, another path, or a symbolic link —
/// is refused, and the input is left as it was.
#[cfg(unix)]
#[test]
fn the_output_may_not_be_an_input() {
    let dir = empty_dir("output-is-input");
    let library = dir.join("libbase.so");
    let original = std::fs::read(root().join("tests/fixtures/libbase.so")).unwrap();
    std::fs::write(&library, &original).unwrap();
    let link = dir.join("link.wasm");
    std::os::unix::fs::symlink(&library, &link).unwrap();
    let other_path = dir.join("../output-is-input/libbase.so");
    let input = library.to_str().unwrap();
    for out in [&library, &other_path, &link] {
        let res = weld(&["link", input, "-o", out.to_str().unwrap()]);
        assert_eq!(res.status.code(), Some(1), "{}", text(&res.stderr));
        assert_eq!(
            text(&res.stderr),
            format!(
                "error: the output `{}` is the input `{input}`; weld does not overwrite its inputs (choose another output)\n",
                out.display()
            )
        );
        assert!(
            std::fs::read(&library).unwrap() == original,
            "the input changed"
        );
    }
}

/// `weld inspect` reports every file it cannot read or parse, prints the others, and fails.
#[test]
fn inspect_reports_every_bad_file() {
    let res = weld(&[
        "inspect",
        "no/such/file.so",
        "tests/bad-inputs/empty.so",
        "tests/fixtures/libbase.so",
        "tests/fixtures",
    ]);
    assert_eq!(res.status.code(), Some(1));
    assert_eq!(
        text(&res.stderr),
        "error: cannot read `no/such/file.so`: No such file or directory (os error 2)\n\
         error: tests/bad-inputs/empty.so: an empty file (0 bytes), not a WebAssembly module\n\
         error: cannot read `tests/fixtures`: it is a directory; expected a WebAssembly module\n"
    );
    assert!(
        text(&res.stdout).starts_with("tests/fixtures/libbase.so:\n"),
        "{}",
        text(&res.stdout)
    );
}

#[test]
fn fuse_writes_one_library_that_links() {
    let fused = tmp("libprogram.so");
    let mut args = vec!["fuse"];
    args.extend(PROGRAM);
    args.extend(["-o", fused.to_str().unwrap(), "-v"]);
    let res = weld(&args);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let err = text(&res.stderr);
    assert!(
        err.contains("weld: part libbase.so: data at __memory_base + 0x"),
        "{err}"
    );
    // One dynamic library, whose NEEDED entries were all satisfied inside.
    let res = weld(&["inspect", fused.to_str().unwrap()]);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let inspected = text(&res.stdout);
    assert!(!inspected.contains("needed:"), "{inspected}");
    let out = tmp("fused-program.wasm");
    let res = weld(&["link", fused.to_str().unwrap(), "-o", out.to_str().unwrap()]);
    assert!(res.status.success(), "{}", text(&res.stderr));
    valid_component(&out);
}

#[test]
fn link_fuse_says_what_was_fused() {
    let out = tmp("fused-link.wasm");
    let mut args = vec!["link", "--fuse", "-v"];
    args.extend(PROGRAM);
    args.extend(["-o", out.to_str().unwrap()]);
    let res = weld(&args);
    assert!(res.status.success(), "{}", text(&res.stderr));
    let err = text(&res.stderr);
    assert!(
        err.contains("weld: fuse  5 libraries into weld-fused.so: libbase.so, "),
        "{err}"
    );
    valid_component(&out);
}

#[test]
fn fuse_reports_bad_inputs_and_leaves_no_output() {
    let out = tmp("never.so");
    let res = weld(&[
        "fuse",
        "tests/fixtures/libapp.so",
        "tests/bad-inputs/empty.so",
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    let err = text(&res.stderr);
    assert!(err.contains("empty.so"), "{err}");
    assert!(!out.exists());
}
