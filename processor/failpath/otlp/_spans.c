/* Per-span reading of serialized requests for the stages that read spans without changing them (the tail
 * sampler, the redaction prefilter): where each span's bytes are, and a span's watched attributes. The
 * pure-Python reading (upb messages) is the reference; tests/sampling/test_native_facts.py compares them.
 * Malformed bytes give None: the caller then reads the parsed request instead. */
#include "wire.h"

PyDoc_STRVAR(span_ranges_doc, "span_ranges(data) -> [start, end, start, end, ...] of every span's payload, or None");

/* level 0: the request (resource_spans = 1), 1: ResourceSpans (scope_spans = 2), 2: ScopeSpans (spans = 2) */
static int ranges_in(const uint8_t *d, Py_ssize_t s, Py_ssize_t e, int level, PyObject *out) {
    Py_ssize_t pos = s;
    while (pos < e) {
        Field f;
        TRY(next_field(d, e, &pos, &f));
        uint32_t wanted = level == 0 ? 1 : 2;
        if (f.number != wanted) continue;
        if (f.type != WT_LEN) return FALLBACK;
        if (level < 2) {
            TRY(ranges_in(d, f.payload, f.end, level + 1, out));
        } else if (append_new(out, PyLong_FromSsize_t(f.payload)) != OK ||
                   append_new(out, PyLong_FromSsize_t(f.end)) != OK) {
            return ERR;
        }
    }
    return OK;
}

static PyObject *span_ranges(PyObject *module, PyObject *arg) {
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    PyObject *out = PyList_New(0);
    if (out != NULL) {
        int rc = ranges_in(data.buf, 0, data.len, 0, out);
        if (rc != OK) {
            Py_CLEAR(out);
            if (rc == FALLBACK) out = Py_NewRef(Py_None);
        }
    }
    PyBuffer_Release(&data);
    return out;
}

PyDoc_STRVAR(watched_doc,
             "watched_attributes(span, keys) -> [(index into keys, AnyValue bytes), ...] | None\n\n"
             "The attributes of a serialized Span (its own, not its events' or links') whose key is one of keys\n"
             "(a tuple of UTF-8 bytes), in order; an attribute without a value is left out. None: malformed.");

static PyObject *watched_attributes(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *keys;
    if (!PyArg_ParseTuple(args, "y*O!", &data, &PyTuple_Type, &keys)) return NULL;
    const uint8_t *d = data.buf;
    Py_ssize_t nkeys = PyTuple_GET_SIZE(keys), pos = 0;
    for (Py_ssize_t k = 0; k < nkeys; k++) {
        if (!PyBytes_Check(PyTuple_GET_ITEM(keys, k))) {
            PyBuffer_Release(&data);
            PyErr_SetString(PyExc_TypeError, "keys must be a tuple of bytes");
            return NULL;
        }
    }
    PyObject *out = PyList_New(0);
    while (out != NULL && pos < data.len) {
        Field f;
        if (next_field(d, data.len, &pos, &f) != OK) goto malformed;
        if (f.number != 9) continue;
        if (f.type != WT_LEN) goto malformed;
        Py_ssize_t inner = f.payload;
        Field key = {0}, value = {0};
        int has_key = 0, has_value = 0;
        while (inner < f.end) {
            Field kv;
            if (next_field(d, f.end, &inner, &kv) != OK) goto malformed;
            if (kv.number == 1 && kv.type == WT_LEN) {
                key = kv;
                has_key = 1;
            } else if (kv.number == 2 && kv.type == WT_LEN) {
                value = kv;
                has_value = 1;
            }
        }
        if (!has_value) continue;
        Py_ssize_t length = has_key ? key.end - key.payload : 0;
        for (Py_ssize_t k = 0; k < nkeys; k++) {
            PyObject *wanted = PyTuple_GET_ITEM(keys, k);
            if (PyBytes_GET_SIZE(wanted) == length &&
                (length == 0 || memcmp(PyBytes_AS_STRING(wanted), d + key.payload, (size_t)length) == 0)) {
                PyObject *pair = Py_BuildValue("(ny#)", k, (const char *)d + value.payload,
                                               value.end - value.payload);
                if (append_new(out, pair) != OK) Py_CLEAR(out);
                break;
            }
        }
    }
    PyBuffer_Release(&data);
    return out;
malformed:
    Py_XDECREF(out);
    PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

static PyMethodDef methods[] = {
    {"span_ranges", span_ranges, METH_O, span_ranges_doc},
    {"watched_attributes", watched_attributes, METH_VARARGS, watched_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "failpath.otlp._spans", PyDoc_STR("failpath's native per-span reading"), -1, methods,
};

PyMODINIT_FUNC PyInit__spans(void) { return PyModule_Create(&module_def); }
