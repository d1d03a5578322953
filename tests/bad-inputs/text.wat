;; WebAssembly text given where a binary library is expected (the weld CLI converts text; the
;; library API takes binaries).
(module
  (@dylink.0 (mem-info (memory 0 0)))
  (import "env" "memory" (memory 0))
  (func (export "_start")))
