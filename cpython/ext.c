/*
 * weldext — a CPython 3.14 extension module written in C, built as a wasm32
 * dynamic library (no NEEDED entries: like extension modules on Linux it
 * leaves the C API functions it calls undefined, and the linker binds them to
 * libpython3.14.so's exports). weld links it as dl-openable under the path
 * CPython's importer passes to dlopen, e.g.
 * /python/lib/python3.14/lib-dynload/weldext.cpython-314-wasm32-wasi.so.
 *
 *     >>> import weldext
 *     >>> weldext.answer()
 *     42
 *
 * Single-phase initialization: PyInit_weldext() returns the module made by
 * PyModule_Create2. No headers: the structures below follow CPython 3.14's
 * layouts for a 32-bit, non-debug, GIL build (Include/object.h,
 * Include/moduleobject.h, Include/methodobject.h), where Py_ssize_t, long and
 * pointers are all 4 bytes.
 */
#define EXPORT __attribute__((visibility("default")))

typedef long Py_ssize_t;
typedef struct _typeobject PyTypeObject;

/* PyObject on 32-bit builds: the refcount is a plain Py_ssize_t. */
typedef struct _object {
    Py_ssize_t ob_refcnt;
    PyTypeObject *ob_type;
} PyObject;

typedef struct PyModuleDef_Base {
    PyObject ob_base;
    PyObject *(*m_init)(void);
    Py_ssize_t m_index;
    PyObject *m_copy;
} PyModuleDef_Base;

typedef PyObject *(*PyCFunction)(PyObject *self, PyObject *args);

typedef struct PyMethodDef {
    const char *ml_name;
    PyCFunction ml_meth;
    int ml_flags;
    const char *ml_doc;
} PyMethodDef;

struct PyModuleDef_Slot;

typedef struct PyModuleDef {
    PyModuleDef_Base m_base;
    const char *m_name;
    const char *m_doc;
    Py_ssize_t m_size;
    PyMethodDef *m_methods;
    struct PyModuleDef_Slot *m_slots;
    int (*m_traverse)(PyObject *, int (*)(PyObject *, void *), void *);
    int (*m_clear)(PyObject *);
    void (*m_free)(void *);
} PyModuleDef;

/* PyModuleDef_HEAD_INIT on 32-bit: a statically allocated immortal object
 * (_Py_STATIC_IMMORTAL_INITIAL_REFCNT = 7 << 28) with no type. */
#define STATIC_IMMORTAL_REFCNT ((Py_ssize_t)(7L << 28))
#define METH_NOARGS 0x0004
#define PYTHON_API_VERSION 1013

extern PyObject *PyModule_Create2(PyModuleDef *def, int apiver);
extern PyObject *PyLong_FromLong(long value);

static PyObject *answer(PyObject *self, PyObject *unused) {
    (void)self;
    (void)unused;
    return PyLong_FromLong(42);
}

static PyMethodDef weldext_methods[] = {
    {"answer", answer, METH_NOARGS, "answer()\n--\n\nThe answer: 42."},
    {0, 0, 0, 0},
};

static PyModuleDef weldext_module = {
    {{STATIC_IMMORTAL_REFCNT, 0}, 0, 0, 0},
    "weldext",
    "A C extension module linked into a component by weld.",
    -1,
    weldext_methods,
    0,
    0,
    0,
    0,
};

EXPORT PyObject *PyInit_weldext(void) {
    return PyModule_Create2(&weldext_module, PYTHON_API_VERSION);
}
