/* Where a run of digits joined by short separators starts: the lead of the phone and card candidates
 * (redaction/digit_runs.py). Python's regex engine tries its generic repeat at every digit of a prompt for
 * \d(?:[seps]{0,gap}\d){n}, a microsecond per few dozen characters; this is one pass. The regex stays the
 * reference and the fallback: tests/redaction/test_digit_runs.py compares them. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define MAX_SEPARATORS 16

typedef struct {
    Py_UCS4 chars[MAX_SEPARATORS];
    Py_ssize_t count;
} Separators;

static inline int is_separator(const Separators *seps, Py_UCS4 ch) {
    for (Py_ssize_t i = 0; i < seps->count; i++) {
        if (seps->chars[i] == ch) return 1;
    }
    return 0;
}

/* What \d means in a str pattern: a decimal digit of any script (Latin-1 holds only 0-9). */
static inline int is_digit(int kind, Py_UCS4 ch) {
    return kind == PyUnicode_1BYTE_KIND ? ch - '0' <= 9u : Py_UNICODE_ISDECIMAL(ch);
}

/* The first digit of the first chain of at least `wanted` digits in text[pos:end], each digit after the
 * first at most max_gap separators past the one before, or -1. Separators are never digits, so from each
 * start the chain is forced (the regex's backtracking cannot find another), and a start inside a chain too
 * short fails as the chain's first digit did: only chains' first digits need trying. */
static Py_ssize_t first_run(int kind, const void *data, Py_ssize_t pos, Py_ssize_t end, const Separators *seps,
                            Py_ssize_t max_gap, Py_ssize_t wanted) {
    Py_ssize_t i = pos;
    while (i < end) {
        if (!is_digit(kind, PyUnicode_READ(kind, data, i))) {
            i++;
            continue;
        }
        Py_ssize_t start = i, digits = 1, j = i + 1;
        while (digits < wanted) {
            Py_ssize_t gap = 0;
            while (j < end && gap <= max_gap && is_separator(seps, PyUnicode_READ(kind, data, j))) {
                j++;
                gap++;
            }
            if (gap > max_gap || j >= end || !is_digit(kind, PyUnicode_READ(kind, data, j))) break;
            digits++;
            j++;
        }
        if (digits >= wanted) return start;
        i = j;
    }
    return -1;
}

PyDoc_STRVAR(first_run_doc,
             "first_run(text, pos, end, separators, max_gap, digits) -> int\n\n"
             "Where re.search(r'\\d(?:[separators]{0,max_gap}\\d){digits - 1}', text, pos, end) starts, or -1.");

static PyObject *py_first_run(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "first_run takes 6 arguments");
        return NULL;
    }
    PyObject *text = args[0], *separators = args[3];
    if (!PyUnicode_Check(text) || !PyUnicode_Check(separators)) {
        PyErr_SetString(PyExc_TypeError, "first_run: text and separators must be str");
        return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    Py_ssize_t max_gap = PyLong_AsSsize_t(args[4]), wanted = PyLong_AsSsize_t(args[5]);
    if (PyErr_Occurred()) return NULL;
    Py_ssize_t count = PyUnicode_GET_LENGTH(separators);
    if (count > MAX_SEPARATORS || max_gap < 0 || wanted < 1) {
        PyErr_SetString(PyExc_ValueError, "first_run: at most 16 separators, max_gap >= 0, digits >= 1");
        return NULL;
    }
    Separators seps = {.count = count};
    int seps_kind = PyUnicode_KIND(separators);
    const void *seps_data = PyUnicode_DATA(separators);
    for (Py_ssize_t i = 0; i < count; i++) seps.chars[i] = PyUnicode_READ(seps_kind, seps_data, i);
    // As the regex's pos and endpos: clamped to the text; a pos past end finds nothing.
    Py_ssize_t length = PyUnicode_GET_LENGTH(text);
    if (end > length) end = length;
    if (pos < 0) pos = 0;
    int kind = PyUnicode_KIND(text);
    return PyLong_FromSsize_t(first_run(kind, PyUnicode_DATA(text), pos, end, &seps, max_gap, wanted));
}

static PyMethodDef methods[] = {
    {"first_run", (PyCFunction)(void (*)(void))py_first_run, METH_FASTCALL, first_run_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "failpath.redaction._digit_runs", PyDoc_STR("runs of digits, found in one pass"), -1,
    methods,
};

PyMODINIT_FUNC PyInit__digit_runs(void) { return PyModule_Create(&module_def); }
