/*
 * libweld_cpython_driver.so — NEEDED: libpython3.14.so, libc.so. Carries the
 * WIT world `weld:cpython/driver` (driver.wit): `run: func() -> s32`.
 *
 * run() starts the interpreter embedded in libpython3.14.so (the CPython 3.14
 * that componentize-py bundles, built for wasm32-wasip2 as a dynamic
 * library), prints a greeting from Python, then runs the Python source in the
 * environment variable WELD_CPYTHON_CODE, if set, and shuts the interpreter
 * down. The interpreter finds its standard library through the environment
 * (PYTHONHOME=/python, a preopened directory) that the host provides.
 *
 * Return value: 0 on success; 1, 2 or 3 when the greeting, the extra code or
 * Py_FinalizeEx failed (Python prints the traceback to stderr). A failure to
 * initialize is fatal inside CPython (abort, i.e. a trap).
 *
 * No headers: the three CPython functions and getenv are declared here with
 * their wasm32 signatures (int and pointers are 32-bit).
 */
#define EXPORT __attribute__((visibility("default")))

extern void Py_InitializeEx(int initsigs);
extern int PyRun_SimpleString(const char *command);
extern int Py_FinalizeEx(void);
extern char *getenv(const char *name);

EXPORT int run(void) {
    /* 0: do not install signal handlers (WASI has no signals). */
    Py_InitializeEx(0);
    if (PyRun_SimpleString("print('hello from CPython in a weld-linked component')") != 0)
        return 1;
    const char *code = getenv("WELD_CPYTHON_CODE");
    if (code != 0 && PyRun_SimpleString(code) != 0)
        return 2;
    if (Py_FinalizeEx() != 0)
        return 3;
    return 0;
}
