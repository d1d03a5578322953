/*
 * libgreet.so — NEEDED: libcount.so (which NEEDS libgreet.so back).
 *
 *   - greet_fib() recurses into libcount's fib(), closing the call cycle;
 *   - each call bumps libcount's `count_calls` through GOT.mem.count_calls;
 *   - `greeting` is a pointer initialised with the address of a string in
 *     this library's data: a data relocation (`__wasm_apply_data_relocs`).
 */
#define EXPORT __attribute__((visibility("default")))

extern int fib(int n);
extern int count_calls;
extern void demo_note_ctor(const char *name);

EXPORT const char *greeting = "hello from libgreet";

__attribute__((constructor)) static void greet_init(void) { demo_note_ctor("greet"); }

EXPORT int greet_fib(int n) {
  count_calls += 1;
  return n < 2 ? n : fib(n - 1) + fib(n - 2);
}
