/*
 * libdemo.so — NEEDED: libcount.so, libgreet.so. Carries the WIT world
 * `weld:demo/demo` (demo.wit): `run: func() -> string`.
 *
 * run() builds a multi-line report in a static buffer (no libc: plain loops
 * with volatile stores, so clang emits no memcpy/strlen calls) and returns
 * it with the canonical ABI: a pointer to an 8-byte {ptr, len} area.
 */
#define EXPORT __attribute__((visibility("default")))

extern int fib(int n);
extern int greet_fib(int n);
extern void *count_fib_address(void);
extern int count_calls;
extern const char *greeting;
extern char demo_ctor_log[64];
extern int demo_ctor_log_len;
extern void demo_note_ctor(const char *name);

__attribute__((constructor)) static void demo_init(void) { demo_note_ctor("demo"); }

static int square(int n) { return n * n; }

/* A table of function pointers: two imported functions and a local one
 * (data relocations holding table indices; `square` gets a slot in this
 * library's own part of the table). */
static int (*volatile ops[3])(int) = {fib, greet_fib, square};
static const char *const op_names[3] = {"fib", "greet_fib", "square"};

static char report[1024];
static int report_len;

/* noinline keeps run() short: without it every call is inlined and unrolled. */
__attribute__((noinline)) static void put_char(char c) {
  volatile char *out = report;
  if (report_len < (int)sizeof report) out[report_len++] = c;
}

__attribute__((noinline)) static void put_str(const char *s) {
  while (*s) put_char(*s++);
}

__attribute__((noinline)) static void put_int(int v) {
  char digits[12];
  int n = 0;
  unsigned u = v < 0 ? 0u - (unsigned)v : (unsigned)v;
  if (v < 0) put_char('-');
  do {
    digits[n++] = (char)('0' + u % 10);
    u /= 10;
  } while (u);
  while (n) put_char(digits[--n]);
}

static int ret_area[2];

__attribute__((export_name("run"))) EXPORT int *run(void) {
  report_len = 0;

  put_str("weld demo: three wasm shared libraries linked into one component\n");

  put_str("constructors ran (in order): ");
  for (int i = 0; i < demo_ctor_log_len; i++) put_char(demo_ctor_log[i]);
  put_str("\n");

  put_str("greeting via a data relocation in libgreet: ");
  put_str(greeting);
  put_str("\n");

  *(volatile int *)&count_calls = 0;
  int f = fib(10);
  put_str("fib(10) = ");
  put_int(f);
  put_str(" via a cycle between libcount and libgreet (");
  put_int(count_calls);
  put_str(" greet_fib calls, counted in libcount's data)\n");

  put_str("function pointers: &fib in libdemo ");
  put_str((void *)&fib == count_fib_address() ? "==" : "!=");
  put_str(" &fib in libcount\n");

  put_str("calls through a table of function pointers:");
  for (int i = 0; i < 3; i++) {
    put_str(" ");
    put_str(op_names[i]);
    put_str("(7) = ");
    put_int(ops[i](7));
  }
  put_str("\n");

  ret_area[0] = (int)report;
  ret_area[1] = report_len;
  return ret_area;
}
