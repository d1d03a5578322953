/*
 * libcount.so — NEEDED: libgreet.so (and libgreet.so NEEDS libcount.so:
 * the two form a dependency cycle).
 *
 * Owns the data the other libraries reach through GOT.mem:
 *   - `count_calls`: how many times greet_fib ran (libgreet bumps it);
 *   - the constructor log that every library's constructor appends to.
 * fib() recurses through greet_fib() in libgreet, which recurses back here.
 */
#define EXPORT __attribute__((visibility("default")))

extern int greet_fib(int n);

EXPORT int count_calls;

EXPORT char demo_ctor_log[64];
EXPORT int demo_ctor_log_len;

/* Append `name` to the constructor log, separated by ", ". Stores are
 * volatile so LLVM neither evaluates constructors at compile time nor turns
 * the loop into a memcpy call (there is no libc). */
static void log_char(char c) {
  volatile char *log = demo_ctor_log;
  volatile int *len = &demo_ctor_log_len;
  if (*len < (int)sizeof demo_ctor_log) {
    log[*len] = c;
    *len = *len + 1;
  }
}

EXPORT void demo_note_ctor(const char *name) {
  if (demo_ctor_log_len > 0) {
    log_char(',');
    log_char(' ');
  }
  while (*name) log_char(*name++);
}

__attribute__((constructor)) static void count_init(void) { demo_note_ctor("count"); }

/* fib(n) for n >= 2 is the sum of two greet_fib calls in libgreet. */
EXPORT int fib(int n) { return n < 2 ? n : greet_fib(n - 1) + greet_fib(n - 2); }

/* &fib as libcount sees it (GOT.func.fib: fib is exported, so interposable). */
EXPORT void *count_fib_address(void) { return (void *)&fib; }
