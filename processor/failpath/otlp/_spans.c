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

PyDoc_STRVAR(request_facts_doc,
             "request_facts(data) -> (resources, scopes, spans) | None\n\n"
             "What the tail sampler reads of a serialized ExportTraceServiceRequest, in one pass:\n"
             "resources: [(Resource bytes, schema_url bytes)], scopes: [(resource index, InstrumentationScope bytes,\n"
             "schema_url bytes)], spans: [(scope index, Span bytes, trace_id, is root, status code, start ns, end ns,\n"
             "name, has events, trace_state)]. None: malformed, or an encoding whose slices would not be the parsed\n"
             "message's parts (a resource or scope written twice, a known field with another wire type).");

/* Bytes object of d[f->payload:f->end], or of nothing when the field is absent (f == NULL). */
static PyObject *payload_bytes(const uint8_t *d, const Field *f) {
    if (f == NULL) return PyBytes_FromStringAndSize(NULL, 0);
    return PyBytes_FromStringAndSize((const char *)d + f->payload, f->end - f->payload);
}

static PyObject *payload_text(const uint8_t *d, const Field *f) {
    if (f == NULL) return PyUnicode_FromStringAndSize(NULL, 0);
    return PyUnicode_DecodeUTF8((const char *)d + f->payload, f->end - f->payload, NULL);
}

/* A schema URL as bytes, checked to be UTF-8 as upb checks every string. */
static int schema_url(const uint8_t *d, const Field *f, PyObject **out) {
    if (f != NULL && utf8_chars(d + f->payload, f->end - f->payload) < 0) return FALLBACK;
    *out = payload_bytes(d, f);
    return *out == NULL ? ERR : OK;
}

/* The status code inside one Status field (code = 3); the last one written wins, as when upb merges. */
static int status_code(const uint8_t *d, const Field *status, int32_t *code) {
    Py_ssize_t pos = status->payload;
    while (pos < status->end) {
        Field f;
        TRY(next_field(d, status->end, &pos, &f));
        if (f.number == 3) {
            if (f.type != WT_VARINT) return FALLBACK;
            *code = (int32_t)(uint32_t)f.value;
        } else if (f.number == 2 && (f.type != WT_LEN || utf8_chars(d + f.payload, f.end - f.payload) < 0)) {
            return FALLBACK;
        }
    }
    return OK;
}

static int span_facts(const uint8_t *d, const Field *span, Py_ssize_t scope, PyObject *out) {
    Field trace_id = {0}, name = {0}, state = {0};
    int has_trace_id = 0, has_name = 0, has_state = 0, root = 1, events = 0;
    int32_t code = 0;
    uint64_t start = 0, end = 0;
    Py_ssize_t pos = span->payload;
    while (pos < span->end) {
        Field f;
        TRY(next_field(d, span->end, &pos, &f));
        switch (f.number) {
        case 1: /* trace_id */
            if (f.type != WT_LEN) return FALLBACK;
            trace_id = f;
            has_trace_id = 1;
            break;
        case 3: /* trace_state */
            if (f.type != WT_LEN) return FALLBACK;
            state = f;
            has_state = 1;
            break;
        case 4: /* parent_span_id: the last one written wins */
            if (f.type != WT_LEN) return FALLBACK;
            root = f.end == f.payload;
            break;
        case 5: /* name */
            if (f.type != WT_LEN) return FALLBACK;
            name = f;
            has_name = 1;
            break;
        case 7: /* start_time_unix_nano */
        case 8: /* end_time_unix_nano */
            if (f.type != WT_I64) return FALLBACK;
            if (f.number == 7) start = f.value;
            else end = f.value;
            break;
        case 11: /* events */
            if (f.type != WT_LEN) return FALLBACK;
            events = 1;
            break;
        case 15: /* status */
            if (f.type != WT_LEN) return FALLBACK;
            TRY(status_code(d, &f, &code));
            break;
        default:
            break;
        }
    }
    PyObject *item = PyTuple_New(10), *part;
    if (item == NULL) return ERR;
    /* each part made only while no exception is set; a partly filled tuple is freed safely */
#define PUT(i, expr)                                                                                             \
    do {                                                                                                        \
        if ((part = (expr)) == NULL) {                                                                          \
            Py_DECREF(item);                                                                                    \
            if (!PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) return ERR;                                  \
            PyErr_Clear();                                                                                      \
            return FALLBACK;                                                                                    \
        }                                                                                                       \
        PyTuple_SET_ITEM(item, i, part);                                                                        \
    } while (0)
    PUT(0, PyLong_FromSsize_t(scope));
    PUT(1, PyBytes_FromStringAndSize((const char *)d + span->payload, span->end - span->payload));
    PUT(2, payload_bytes(d, has_trace_id ? &trace_id : NULL));
    PUT(3, PyBool_FromLong(root));
    PUT(4, PyLong_FromLong(code));
    PUT(5, PyLong_FromUnsignedLongLong(start));
    PUT(6, PyLong_FromUnsignedLongLong(end));
    PUT(7, payload_text(d, has_name ? &name : NULL));
    PUT(8, PyBool_FromLong(events));
    PUT(9, payload_text(d, has_state ? &state : NULL));
#undef PUT
    return append_new(out, item);
}

/* One ScopeSpans: its scope, schema URL and spans. */
static int scope_facts(const uint8_t *d, const Field *scope_spans, Py_ssize_t resource, PyObject *scopes,
                       PyObject *spans) {
    Field scope = {0}, url = {0};
    int has_scope = 0, has_url = 0;
    Py_ssize_t index = PyList_GET_SIZE(scopes), pos = scope_spans->payload;
    while (pos < scope_spans->end) {
        Field f;
        TRY(next_field(d, scope_spans->end, &pos, &f));
        if (f.number == 1) {
            if (f.type != WT_LEN || has_scope) return FALLBACK; /* written twice: upb would merge them */
            scope = f;
            has_scope = 1;
        } else if (f.number == 2) {
            if (f.type != WT_LEN) return FALLBACK;
            TRY(span_facts(d, &f, index, spans));
        } else if (f.number == 3) {
            if (f.type != WT_LEN) return FALLBACK;
            url = f;
            has_url = 1;
        }
    }
    PyObject *schema;
    TRY(schema_url(d, has_url ? &url : NULL, &schema));
    return append_new(scopes, Py_BuildValue("(nNN)", resource, payload_bytes(d, has_scope ? &scope : NULL), schema));
}

/* One ResourceSpans: its resource, schema URL and scopes. */
static int resource_facts(const uint8_t *d, const Field *resource_spans, PyObject *resources, PyObject *scopes,
                          PyObject *spans) {
    Field resource = {0}, url = {0};
    int has_resource = 0, has_url = 0;
    Py_ssize_t index = PyList_GET_SIZE(resources), pos = resource_spans->payload;
    while (pos < resource_spans->end) {
        Field f;
        TRY(next_field(d, resource_spans->end, &pos, &f));
        if (f.number == 1) {
            if (f.type != WT_LEN || has_resource) return FALLBACK;
            resource = f;
            has_resource = 1;
        } else if (f.number == 2) {
            if (f.type != WT_LEN) return FALLBACK;
            TRY(scope_facts(d, &f, index, scopes, spans));
        } else if (f.number == 3) {
            if (f.type != WT_LEN) return FALLBACK;
            url = f;
            has_url = 1;
        }
    }
    PyObject *schema;
    TRY(schema_url(d, has_url ? &url : NULL, &schema));
    return append_new(resources, Py_BuildValue("(NN)", payload_bytes(d, has_resource ? &resource : NULL), schema));
}

static PyObject *request_facts(PyObject *module, PyObject *arg) {
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *d = data.buf;
    PyObject *resources = PyList_New(0), *scopes = PyList_New(0), *spans = PyList_New(0), *out = NULL;
    int rc = resources != NULL && scopes != NULL && spans != NULL ? OK : ERR;
    Py_ssize_t pos = 0;
    while (rc == OK && pos < data.len) {
        Field f;
        rc = next_field(d, data.len, &pos, &f);
        if (rc == OK && f.number == 1) {
            rc = f.type == WT_LEN ? resource_facts(d, &f, resources, scopes, spans) : FALLBACK;
        }
    }
    if (rc == OK) {
        out = PyTuple_Pack(3, resources, scopes, spans);
    } else if (rc == FALLBACK) {
        out = Py_NewRef(Py_None);
    }
    Py_XDECREF(resources);
    Py_XDECREF(scopes);
    Py_XDECREF(spans);
    PyBuffer_Release(&data);
    return out;
}

static PyMethodDef methods[] = {
    {"span_ranges", span_ranges, METH_O, span_ranges_doc},
    {"watched_attributes", watched_attributes, METH_VARARGS, watched_doc},
    {"request_facts", request_facts, METH_O, request_facts_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "failpath.otlp._spans", PyDoc_STR("failpath's native per-span reading"), -1, methods,
};

PyMODINIT_FUNC PyInit__spans(void) { return PyModule_Create(&module_def); }
