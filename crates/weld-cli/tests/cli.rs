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

    // The component itself, to standard output (`weld link -t … | head`).
    let mut args = vec!["link", "-t"];
    args.extend(PROGRAM);
    let res = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(&args)
        .current_dir(root())
        .stdout(closed_pipe())
        .output()
        .unwrap();
    assert!(
        res.status.success(),
        "{:?}: {}",
        res.status,
        text(&res.stderr)
    );
    assert_eq!(text(&res.stderr), "");
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
fn fuse_no_inline_keeps_the_calls() {
    let parts = ["tests/fixtures/libcaller.so", "tests/fixtures/libcallee.so"];
    let mut outputs = Vec::new();
    for extra in [None, Some("--no-inline")] {
        let fused = tmp(&format!("libcalls{}.so", extra.unwrap_or_default()));
        let mut args = vec!["fuse"];
        args.extend(parts);
        args.extend(extra);
        args.extend(["-o", fused.to_str().unwrap()]);
        let res = weld(&args);
        assert!(res.status.success(), "{}", text(&res.stderr));
        let out = tmp(&format!("calls{}.wasm", extra.unwrap_or_default()));
        let res = weld(&["link", fused.to_str().unwrap(), "-o", out.to_str().unwrap()]);
        assert!(res.status.success(), "{}", text(&res.stderr));
        valid_component(&out);
        outputs.push(std::fs::read(&fused).unwrap());
    }
    // Inlined, the loop's two calls into libcallee are gone (and their bodies are in the loop).
    assert_ne!(outputs[0], outputs[1]);
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

/// Runs weld with `args` and checks that it succeeded.
fn weld_ok(args: &[&str]) -> Output {
    let res = weld(args);
    assert!(res.status.success(), "{}", text(&res.stderr));
    res
}

/// The byte ranges of the component's top-level core modules, in index order.
fn core_modules(component: &[u8]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    for payload in wasmparser::Parser::new(0).parse_all(component) {
        match payload.unwrap() {
            wasmparser::Payload::ModuleSection {
                unchecked_range, ..
            } => {
                if depth == 0 {
                    out.push(unchecked_range.start as usize..unchecked_range.end as usize);
                }
                depth += 1;
            }
            wasmparser::Payload::ComponentSection { .. } => depth += 1,
            wasmparser::Payload::End(_) => depth -= 1,
            _ => {}
        }
    }
    out
}

/// The names a core module exports.
fn module_exports(module: &[u8]) -> Vec<String> {
    let mut names = Vec::new();
    for payload in wasmparser::Parser::new(0).parse_all(module) {
        if let wasmparser::Payload::ExportSection(reader) = payload.unwrap() {
            for e in reader {
                names.push(e.unwrap().name.to_string());
            }
        }
    }
    names
}

fn read_json(path: &std::path::Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The program and an unused library, linked with every report file.
fn link_with_reports(name: &str, extra: &[&str]) -> (PathBuf, Output) {
    let dir = empty_dir(name);
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    args.push("tests/fixtures/libunused.so");
    let paths: Vec<String> = ["p.wasm", "p.json", "p.map", "p.dot"]
        .iter()
        .map(|f| dir.join(f).to_str().unwrap().to_string())
        .collect();
    args.extend([
        "-o", &paths[0], "--report", &paths[1], "--map", &paths[2], "--graph", &paths[3],
    ]);
    args.extend(extra);
    let res = weld_ok(&args);
    (dir, res)
}

#[test]
fn the_json_report_describes_the_link_and_core_module_indexes_each_librarys_bytes() {
    let (dir, _) = link_with_reports("report-json", &[]);
    let component = valid_component(&dir.join("p.wasm"));
    let modules = core_modules(&component);
    let report = read_json(&dir.join("p.json"));
    assert_eq!(report["format"], "weld-link-report");
    assert_eq!(report["version"], 1);
    assert_eq!(report["output"], dir.join("p.wasm").to_str().unwrap());
    let libraries = report["libraries"].as_array().unwrap();
    let given: Vec<&str> = PROGRAM
        .iter()
        .copied()
        .chain(["tests/fixtures/libunused.so"])
        .collect();
    assert_eq!(libraries.len(), given.len());
    for (lib, file) in libraries.iter().zip(&given) {
        assert_eq!(lib["file"], *file);
        assert_eq!(lib["name"], file.rsplit('/').next().unwrap());
        let bytes = std::fs::read(root().join(file)).unwrap();
        match lib["core_module"].as_u64() {
            Some(m) => {
                assert_eq!(lib["kept"], true, "{lib}");
                let range = modules[m as usize].clone();
                assert_eq!(&component[range], &bytes[..], "{file}");
                assert!(lib["core_instance"].is_u64());
                assert!(lib["memory_base"].is_u64() && lib["table_base"].is_u64());
            }
            None => {
                assert_eq!(lib["kept"], false, "{lib}");
                assert_eq!(lib["reason"], "pruned");
                assert!(lib["core_instance"].is_null() && lib["memory_base"].is_null());
            }
        }
    }
    assert_eq!(libraries[0]["reason"], "component_exports");
    assert_eq!(libraries[3]["reason"], "referenced_by");
    assert_eq!(libraries[3]["referenced_by"], "libmain.so");
    assert_eq!(libraries[3]["needed"], serde_json::json!(["libbase.so"]));
    assert_eq!(libraries[5]["file"], "tests/fixtures/libunused.so");
    assert_eq!(
        report["instantiation_order"],
        serde_json::json!([
            "libbase.so",
            "libpong.so",
            "libping.so",
            "libapp.so",
            "libmain.so"
        ])
    );
    assert_eq!(
        report["cycles"],
        serde_json::json!([["libpong.so", "libping.so"]])
    );
    let symbols = report["symbols"].as_array().unwrap();
    let symbol = |name: &str, via: &str| {
        symbols
            .iter()
            .find(|s| s["name"] == name && s["via"] == via)
            .unwrap_or_else(|| panic!("{name} via {via}: {symbols:?}"))
    };
    assert_eq!(symbol("base_counter", "GOT.mem")["kind"], "data");
    assert_eq!(symbol("base_counter", "GOT.mem")["provider"], "libbase.so");
    assert_eq!(symbol("base_add", "GOT.func")["kind"], "function");
    let shimmed: Vec<_> = symbols.iter().filter(|s| s["shim"] == true).collect();
    assert!(!shimmed.is_empty(), "{symbols:?}");
    assert!(
        report["exports"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!({"name": "ping", "library": "libmain.so"}))
    );
    assert_eq!(report["layout"]["stack_size"], 1024 * 1024);
    assert!(report["layout"]["heap_base"].as_u64().unwrap() >= 1024 * 1024);
    assert!(report["fusion"].is_null());
    assert!(report["warnings"].as_array().unwrap().is_empty());
}

#[test]
fn with_fuse_every_fused_librarys_core_module_is_the_fused_module() {
    let (dir, _) = link_with_reports("report-fuse", &["--fuse"]);
    let component = valid_component(&dir.join("p.wasm"));
    let modules = core_modules(&component);
    let report = read_json(&dir.join("p.json"));
    let fusion = &report["fusion"];
    assert_eq!(fusion["library"], "weld-fused.so");
    let parts: Vec<&str> = fusion["parts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect();
    assert_eq!(parts.len(), PROGRAM.len(), "{fusion}");
    let mut fused_module = None;
    for lib in report["libraries"].as_array().unwrap() {
        let name = lib["name"].as_str().unwrap();
        if !parts.contains(&name) {
            assert_eq!(lib["kept"], false, "{lib}");
            assert!(lib["core_module"].is_null());
            continue;
        }
        let m = lib["core_module"].as_u64().unwrap();
        assert_eq!(*fused_module.get_or_insert(m), m, "{name}");
    }
    let range = modules[fused_module.unwrap() as usize].clone();
    let fused = &component[range];
    let exports = module_exports(fused);
    for file in PROGRAM {
        let bytes = std::fs::read(root().join(file)).unwrap();
        assert_ne!(fused, &bytes[..], "{file}");
        // The fused module exports every symbol of every part.
        for name in module_exports(&bytes) {
            if name.starts_with("__") || name == "_initialize" {
                continue;
            }
            assert!(exports.contains(&name), "{name} of {file}: {exports:?}");
        }
    }
}

#[test]
fn the_map_has_one_section_per_topic_with_aligned_columns() {
    let (dir, _) = link_with_reports("report-map", &[]);
    let map = std::fs::read_to_string(dir.join("p.map")).unwrap();
    for section in [
        "\nLibraries (input order)\n",
        "\nInstantiation order\n",
        "\nInitialization order (NEEDED dependencies first)\n",
        "\nCycles\n  libpong.so <-> libping.so\n",
        "\nMemory (",
        "\nTable (",
        "\nExports\n",
        "\nSymbols\n",
        "\nShims (calls to a library instantiated later)\n",
    ] {
        assert!(map.contains(section), "{section:?} in\n{map}");
    }
    assert!(
        map.contains("  0x00000000  0x00100000  0x00100000  stack\n"),
        "{map}"
    );
    // Every row of the libraries table has its file where the header has `file`.
    let table: Vec<&str> = map
        .split("\nLibraries (input order)\n")
        .nth(1)
        .unwrap()
        .lines()
        .take_while(|l| !l.is_empty())
        .collect();
    let column = table[0].find("file").unwrap();
    assert_eq!(table.len(), PROGRAM.len() + 2);
    for row in &table[1..] {
        assert_eq!(row.find("tests/fixtures/"), Some(column), "{row}");
    }
    assert!(
        map.contains("libunused.so  tests/fixtures/libunused.so  pruned"),
        "{map}"
    );
}

#[test]
fn the_graph_is_dot_with_every_kind_of_edge() {
    let (dir, _) = link_with_reports("report-graph", &[]);
    let dot = std::fs::read_to_string(dir.join("p.dot")).unwrap();
    assert!(
        dot.starts_with("digraph weld {\n") && dot.ends_with("}\n"),
        "{dot}"
    );
    assert_eq!(dot.matches('{').count(), dot.matches('}').count());
    for line in [
        r#""libunused.so" [label="libunused.so\npruned", style=dashed, color=grey, fontcolor=grey];"#,
        r#""libapp.so" [label="libapp.so\nreferenced by libmain.so"];"#,
        r#""libmain.so" -> "libapp.so" [label="NEEDED", color=grey40, fontcolor=grey40, arrowhead=empty];"#,
        r#""libapp.so" -> "libbase.so" [label="GOT.mem: base_counter", style=dotted, color=blue, fontcolor=blue];"#,
        r#""libapp.so" -> "libbase.so" [label="GOT.func: base_add", style=dashed, color=darkgreen, fontcolor=darkgreen];"#,
        r#""libmain.so" -> "libping.so" [label="env: ping_n", color=black];"#,
        r#""libpong.so" -> "libping.so" [label="env: ping_n (shim)", color=red, fontcolor=red, penwidth=2];"#,
    ] {
        assert!(dot.contains(line), "{line}\nin\n{dot}");
    }
    let cluster = dot.split("subgraph cluster_cycle_0 {").nth(1).unwrap();
    let cluster = cluster.split('}').next().unwrap();
    assert!(cluster.contains("\"libping.so\";") && cluster.contains("\"libpong.so\";"));
}

/// Each line of `stderr` as JSON.
fn json_lines(stderr: &[u8]) -> Vec<serde_json::Value> {
    text(stderr)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn message_format_json_prints_one_object_per_diagnostic() {
    // A missing library and the imports it would have provided.
    let res = weld(&[
        "link",
        "tests/fixtures/libmain.so",
        "-o",
        "target/never.wasm",
        "--message-format",
        "json",
    ]);
    assert_eq!(res.status.code(), Some(1));
    let lines = json_lines(&res.stderr);
    assert_eq!(lines[0]["level"], "error");
    assert_eq!(lines[0]["code"], "missing-needed");
    assert_eq!(lines[0]["library"], "libmain.so");
    assert_eq!(lines[0]["symbol"], "libapp.so");
    assert_eq!(lines[0]["file"], "tests/fixtures/libmain.so");
    assert!(lines[0]["offset"].is_null());
    let unresolved = lines
        .iter()
        .find(|l| l["code"] == "unresolved-import" && l["symbol"] == "weld_init_log")
        .unwrap();
    assert_eq!(unresolved["file"], "tests/fixtures/libmain.so");
    assert!(
        unresolved["message"]
            .as_str()
            .unwrap()
            .contains("GOT.mem.weld_init_log")
    );
    // A malformed input: the file, library and offset.
    let res = weld(&[
        "link",
        "--message-format=json",
        "x=tests/bad-inputs/code-section-past-end.so",
        "-o",
        "target/never.wasm",
    ]);
    let lines = json_lines(&res.stderr);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["code"], "parse-truncated");
    assert_eq!(lines[0]["library"], "x");
    assert_eq!(
        lines[0]["file"],
        "tests/bad-inputs/code-section-past-end.so"
    );
    assert!(lines[0]["offset"].is_u64(), "{lines:?}");
    // Unreadable inputs, all of them.
    let res = weld(&[
        "link",
        "--message-format=json",
        "nonexistent-1.so",
        "tests/fixtures",
        "-o",
        "target/never.wasm",
    ]);
    let lines = json_lines(&res.stderr);
    assert_eq!(lines[0]["code"], "input-unreadable");
    assert_eq!(lines[0]["file"], "nonexistent-1.so");
    assert_eq!(lines[1]["code"], "input-directory");
    // A usage error.
    let res = weld(&["link", "--bogus", "--message-format", "json"]);
    assert_eq!(res.status.code(), Some(2));
    let lines = json_lines(&res.stderr);
    assert_eq!(lines[0]["code"], "usage");
    assert!(lines[0]["message"].as_str().unwrap().contains("--bogus"));
}

#[test]
fn message_format_json_prints_warnings_and_verbose_lines() {
    let dir = empty_dir("json-warnings");
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
    let out = dir.join("out.wasm");
    let res = weld_ok(&[
        "link",
        &user,
        &a,
        &b,
        "-o",
        out.to_str().unwrap(),
        "-v",
        "--message-format",
        "json",
    ]);
    let lines = json_lines(&res.stderr);
    let warning = lines.iter().find(|l| l["level"] == "warning").unwrap();
    assert_eq!(warning["code"], "duplicate-symbol");
    assert_eq!(warning["symbol"], "f");
    assert_eq!(warning["library"], "a.wat");
    assert_eq!(warning["file"], a.as_str());
    assert!(lines.iter().any(|l| {
        l["level"] == "info"
            && l["message"]
                .as_str()
                .unwrap()
                .starts_with("instantiation order:")
    }));
}

/// Copies of the program's libraries but libmain.so, in a directory of their own.
fn program_dependencies(name: &str) -> PathBuf {
    let dir = empty_dir(name);
    for lib in &PROGRAM[1..] {
        let file = lib.rsplit('/').next().unwrap();
        std::fs::copy(root().join(lib), dir.join(file)).unwrap();
    }
    dir
}

#[test]
fn needed_libraries_are_found_in_search_directories() {
    let deps = program_dependencies("search-deps");
    let empty = empty_dir("search-empty");
    let out = deps.join("out.wasm");
    let report = deps.join("report.json");
    let res = weld_ok(&[
        "link",
        "tests/fixtures/libmain.so",
        "-L",
        empty.to_str().unwrap(),
        "-L",
        deps.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--report",
        report.to_str().unwrap(),
        "-v",
    ]);
    let err = text(&res.stderr);
    assert!(
        err.contains(&format!(
            "weld: found libpong.so (NEEDED by libping.so) in -L `{}`: {}",
            deps.display(),
            deps.join("libpong.so").display()
        )),
        "{err}"
    );
    let bytes = valid_component(&out);
    // The same component as with every library given.
    let given = deps.join("given.wasm");
    let mut args = vec!["link"];
    args.extend(PROGRAM);
    args.extend(["-o", given.to_str().unwrap()]);
    weld_ok(&args);
    assert_eq!(
        core_modules(&bytes).len(),
        core_modules(&std::fs::read(&given).unwrap()).len()
    );
    let report = read_json(&report);
    let pong = report["libraries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["name"] == "libpong.so")
        .unwrap();
    assert_eq!(pong["file"], deps.join("libpong.so").to_str().unwrap());
    assert_eq!(pong["found"]["needed_by"], "libping.so");
    assert_eq!(pong["found"]["search_dir"], deps.to_str().unwrap());
    assert_eq!(report["libraries"][0]["found"], serde_json::Value::Null);

    // A library found nowhere: the directories searched are named.
    let res = weld(&[
        "link",
        "tests/fixtures/libmain.so",
        "-L",
        empty.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
    ]);
    assert_eq!(res.status.code(), Some(1));
    assert!(
        text(&res.stderr).contains(&format!(
            "library `libmain.so` needs `libapp.so` (dylink.0 NEEDED), but no input has that name; it is in none of the search directories `{}`",
            empty.display()
        )),
        "{}",
        text(&res.stderr)
    );
}

#[test]
fn needed_libraries_are_found_through_runtime_path_origin() {
    let dir = empty_dir("search-origin");
    std::fs::create_dir_all(dir.join("deps")).unwrap();
    std::fs::write(
        dir.join("app.wat"),
        r#"(module (@dylink.0 (needed "libdep.so") (runtime-path "$ORIGIN/deps"))
            (import "env" "dep" (func (result i32)))
            (func (export "_start") (drop (call 0))))"#,
    )
    .unwrap();
    std::fs::write(
        dir.join("deps/libdep.so"),
        r#"(module (@dylink.0) (func (export "dep") (result i32) i32.const 7))"#,
    )
    .unwrap();
    let res = weld_ok(&[
        "link",
        dir.join("app.wat").to_str().unwrap(),
        "-o",
        dir.join("app.wasm").to_str().unwrap(),
        "-v",
    ]);
    assert!(
        text(&res.stderr).contains(&format!(
            "weld: found libdep.so (NEEDED by app.wat) through the RUNTIME_PATH entry `$ORIGIN/deps` of app.wat: {}",
            dir.join("deps/libdep.so").display()
        )),
        "{}",
        text(&res.stderr)
    );
}

const EXAMPLES: [&str; 3] = [
    "examples/libdemo.so",
    "examples/libgreet.so",
    "examples/libcount.so",
];

#[test]
fn without_o_the_output_goes_to_standard_output() {
    let dir = empty_dir("stdout");
    let file = dir.join("demo.wasm");
    let mut args = vec!["link"];
    args.extend(EXAMPLES);
    let piped = weld_ok(&args);
    args.extend(["-o", file.to_str().unwrap()]);
    weld_ok(&args);
    assert_eq!(piped.stdout, std::fs::read(&file).unwrap());
    let mut text_args = vec!["link", "-t"];
    text_args.extend(EXAMPLES);
    let wat = weld_ok(&text_args);
    assert!(text(&wat.stdout).starts_with("(component"));
    // weld fuse too.
    let fused = weld_ok(&["fuse", EXAMPLES[1], EXAMPLES[2]]);
    let fused_file = dir.join("fused.so");
    weld_ok(&[
        "fuse",
        EXAMPLES[1],
        EXAMPLES[2],
        "-o",
        fused_file.to_str().unwrap(),
        "--name",
        "fused.so",
    ]);
    assert_eq!(fused.stdout, std::fs::read(&fused_file).unwrap());
}

/// Runs `command` with a terminal as its standard output (util-linux `script`), or `None`
/// where there is no `script`.
fn on_a_terminal(command: &str) -> Option<(Option<i32>, String)> {
    let res = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .current_dir(root())
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    Some((res.status.code(), text(&res.stdout)))
}

#[test]
fn binary_output_is_not_written_to_a_terminal() {
    let weld = env!("CARGO_BIN_EXE_weld");
    let examples = EXAMPLES.join(" ");
    let Some((code, out)) = on_a_terminal(&format!("{weld} link {examples}")) else {
        eprintln!("no `script` command: skipped");
        return;
    };
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("error: not writing a component (binary) to a terminal: give `-o FILE`"),
        "{out}"
    );
    let (code, out) = on_a_terminal(&format!("{weld} fuse {}", EXAMPLES[1])).unwrap();
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("not writing a dynamic library (binary) to a terminal"),
        "{out}"
    );
    // Text is fine.
    let (code, out) = on_a_terminal(&format!("{weld} link -t {examples}")).unwrap();
    assert_eq!(code, Some(0), "{out}");
    assert!(
        out.starts_with("(component"),
        "{}",
        &out[..out.len().min(200)]
    );
}

#[test]
fn completions_for_every_shell() {
    for (shell, marker) in [
        ("bash", "_weld()"),
        ("zsh", "#compdef weld"),
        ("fish", "complete -c weld"),
    ] {
        let res = weld_ok(&["completions", shell]);
        let script = text(&res.stdout);
        assert!(script.contains(marker), "{shell}: {script}");
        assert!(script.contains("message-format"), "{shell}");
        assert!(script.contains("report"), "{shell}");
    }
}

#[test]
fn help_is_wrapped_to_the_terminal_width() {
    let res = Command::new(env!("CARGO_BIN_EXE_weld"))
        .args(["link", "--help"])
        .env("COLUMNS", "60")
        .output()
        .unwrap();
    assert!(res.status.success());
    let help = text(&res.stdout);
    assert!(help.contains("--report"), "{help}");
    for line in help.lines() {
        assert!(line.chars().count() <= 60, "{line:?}");
    }
}
