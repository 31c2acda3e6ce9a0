/* Where a run of digits joined by short separators starts: the lead of the phone and card candidates
 * (redaction/digit_runs.py). Python's regex engine tries its generic repeat at every digit of a prompt for
 * \d(?:[seps]{0,gap}\d){n}, a microsecond per few dozen characters; this is one pass. The regex stays the
 * reference and the fallback: tests/redaction/test_digit_runs.py compares them. And the card number
 * candidates of an ASCII text (detectors.py's CARD_NUMBERS, less those right after an IBAN's head), led
 * by such runs: tests/redaction/test_card_matches.py compares them with the regexes'. */
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

/* ---- card number candidates (detectors.py: _find_cards before the network and Luhn checks) ----------- */

/* [A-Za-z\d-] for an ASCII character: what may not touch a card number on either side. */
static inline int card_neighbour(Py_UCS1 c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* Where CARD_NUMBER.match(text, i) ends, or -1: (?<![A-Za-z\d-]) then 1(?:[ -]?\d){14} or
 * [long_first](?:[ -]?\d){11,18}, then (?![A-Za-z\d-]). Separators are never digits, so each repeat is
 * forced (a separator only when a digit follows it); the regex's backtracking only tries fewer repeats. */
static Py_ssize_t card_match(const Py_UCS1 *t, Py_ssize_t n, Py_ssize_t i, const char *long_first) {
    if ((i > 0 && card_neighbour(t[i - 1])) || i >= n || !is_digit(PyUnicode_1BYTE_KIND, t[i])) return -1;
    Py_ssize_t ends[19];
    int reps = 0;
    for (Py_ssize_t p = i + 1; reps < 18;) {
        Py_ssize_t q = p < n && (t[p] == ' ' || t[p] == '-') ? p + 1 : p;
        if (q >= n || !is_digit(PyUnicode_1BYTE_KIND, t[q])) break;
        p = ends[++reps] = q + 1;
    }
#define FREE_AFTER(e) ((e) >= n || !card_neighbour(t[e]))
    if (t[i] == '1' && reps >= 14 && FREE_AFTER(ends[14])) return ends[14];
    if (strchr(long_first, t[i]) != NULL)
        for (int k = reps; k >= 11; k--)
            if (FREE_AFTER(ends[k])) return ends[k];
#undef FREE_AFTER
    return -1;
}

/* _IBAN_HEAD.search(text, max(0, s - 5), s): [A-Z]{2}\d{2}[ -]?$ where $ is s, or a newline just before it. */
static int iban_head_before(const Py_UCS1 *t, Py_ssize_t s) {
    Py_ssize_t low = s > 5 ? s - 5 : 0;
#define HEAD(at) ((at) >= low && t[at] >= 'A' && t[at] <= 'Z' && t[(at) + 1] >= 'A' && t[(at) + 1] <= 'Z' && \
                  is_digit(PyUnicode_1BYTE_KIND, t[(at) + 2]) && is_digit(PyUnicode_1BYTE_KIND, t[(at) + 3]))
    for (int newline = 0; newline <= (s > 0 && t[s - 1] == '\n'); newline++) {
        Py_ssize_t e = s - newline; /* where the match ends */
        if (HEAD(e - 4)) return 1;
        if (e >= 1 && (t[e - 1] == ' ' || t[e - 1] == '-') && HEAD(e - 5)) return 1;
    }
#undef HEAD
    return 0;
}

PyDoc_STRVAR(card_matches_doc,
             "card_matches(text, pos, lead_end, long_first) -> [(start, end)] | None\n\n"
             "The spans of CARD_NUMBERS.finditer(text, pos, lead_end) (the pattern's first alternative a 1 and 14\n"
             "more digits, the second a digit of long_first and 11 to 18 more) not right after an IBAN's head\n"
             "(_IBAN_HEAD), for an ASCII text; None for any other text.");

static PyObject *py_card_matches(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    if (nargs != 4 || !PyUnicode_Check(args[0]) || !PyUnicode_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError, "card_matches(text: str, pos: int, lead_end: int, long_first: str)");
        return NULL;
    }
    PyObject *text = args[0];
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]), end = PyLong_AsSsize_t(args[2]);
    const char *long_first = PyUnicode_AsUTF8(args[3]);
    if (long_first == NULL || PyErr_Occurred()) return NULL;
    if (!PyUnicode_IS_ASCII(text)) Py_RETURN_NONE;
    const Py_UCS1 *t = PyUnicode_1BYTE_DATA(text);
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (end > n) end = n;
    if (pos < 0) pos = 0;
    Separators seps = {{' ', '-'}, 2};
    PyObject *found = PyList_New(0);
    Py_ssize_t start;
    /* Skipping.finditer with a reach of 0: the match is tried at each lead; past a match, or past the lead */
    while (found != NULL && (start = first_run(PyUnicode_1BYTE_KIND, t, pos, end, &seps, 1, 12)) >= 0) {
        Py_ssize_t stop = card_match(t, n, start, long_first);
        if (stop < 0) {
            pos = start + 1;
            continue;
        }
        pos = stop;
        if (iban_head_before(t, start)) continue;
        PyObject *span = Py_BuildValue("(nn)", start, stop);
        if (span == NULL || PyList_Append(found, span) < 0) Py_CLEAR(found);
        Py_XDECREF(span);
    }
    return found;
}

static PyMethodDef methods[] = {
    {"first_run", (PyCFunction)(void (*)(void))py_first_run, METH_FASTCALL, first_run_doc},
    {"card_matches", (PyCFunction)(void (*)(void))py_card_matches, METH_FASTCALL, card_matches_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "failpath.redaction._digit_runs", PyDoc_STR("runs of digits, found in one pass"), -1,
    methods,
};

PyMODINIT_FUNC PyInit__digit_runs(void) { return PyModule_Create(&module_def); }
