/* Per-span reading of serialized requests for the stages that read spans without changing them (the tail
 * sampler, the redaction prefilter, the normalizer): where each span's bytes are, with the sampler's facts and
 * watched attribute values, and whole spans as Python values; and the framing of a kept trace's buffered
 * spans. The pure-Python reading (upb messages) and framing are the reference;
 * tests/sampling/test_native_facts.py, tests/otlp/test_span_records.py and tests/sampling/test_kept_output.py
 * compare them. Malformed bytes give None: the caller then reads the parsed request instead. */
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

/* Bytes object of d[f->payload:f->end], or of nothing when the field is absent (f == NULL). */
static PyObject *payload_bytes(const uint8_t *d, const Field *f) {
    if (f == NULL) return PyBytes_FromStringAndSize(NULL, 0);
    return PyBytes_FromStringAndSize((const char *)d + f->payload, f->end - f->payload);
}

static PyObject *payload_text(const uint8_t *d, const Field *f) {
    if (f == NULL) return PyUnicode_FromStringAndSize(NULL, 0);
    return PyUnicode_DecodeUTF8((const char *)d + f->payload, f->end - f->payload, NULL);
}

/* payload_text(), or NULL with *rc FALLBACK where the bytes are not UTF-8 (upb refuses them: the caller's
 * reader declines) and ERR for any other error. Python's decoder judges UTF-8 as upb does. */
static PyObject *decoded(const uint8_t *d, const Field *f, int *rc) {
    PyObject *text = payload_text(d, f);
    if (text == NULL) {
        *rc = PyErr_ExceptionMatches(PyExc_UnicodeDecodeError) ? FALLBACK : ERR;
        if (*rc == FALLBACK) PyErr_Clear();
    }
    return text;
}

PyDoc_STRVAR(valid_spans_doc,
             "valid_spans(data) -> int | None\n\n"
             "The number of spans in a serialized ExportTraceServiceRequest when upb certainly reads it (every field\n"
             "one the schema has, with its wire type; every string valid UTF-8; nesting well within upb's limit) and\n"
             "every span has valid ids (trace id 16 bytes and not all zero, span id 8 bytes and not all zero, parent\n"
             "span id empty or 8 bytes; an id written twice counts as upb reads it, the last one). None otherwise:\n"
             "the caller parses the request (which refuses malformed bytes) and checks the parsed spans (which names\n"
             "the problems).");

static int nonzero(const uint8_t *p, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (p[i]) return 1;
    return 0;
}

/* The OTLP trace messages a request can hold, and what each of their fields is (by number). A field the
 * schema does not have here (an unknown one, or one added later, such as Resource.entity_refs) makes the
 * check give up: upb decides. */
enum { V_NONE = 0, V_STRING, V_BYTES, V_VARINT, V_I64, V_I32, V_MESSAGE };
enum { T_REQUEST, T_RESOURCE_SPANS, T_RESOURCE, T_SCOPE_SPANS, T_SCOPE, T_SPAN, T_EVENT, T_LINK, T_STATUS, T_KV,
       T_ANY, T_ARRAY, T_KVLIST, T_TYPES };
typedef struct {
    uint8_t kind, message;
} Slot;
#define MSG(t) {V_MESSAGE, t}
#define STR {V_STRING, 0}
#define BYTES {V_BYTES, 0}
#define VARINT {V_VARINT, 0}
#define I64 {V_I64, 0}
#define I32 {V_I32, 0}
static const Slot SCHEMA[T_TYPES][17] = {
    [T_REQUEST] = {[1] = MSG(T_RESOURCE_SPANS)},
    [T_RESOURCE_SPANS] = {[1] = MSG(T_RESOURCE), [2] = MSG(T_SCOPE_SPANS), [3] = STR},
    [T_RESOURCE] = {[1] = MSG(T_KV), [2] = VARINT},
    [T_SCOPE_SPANS] = {[1] = MSG(T_SCOPE), [2] = MSG(T_SPAN), [3] = STR},
    [T_SCOPE] = {[1] = STR, [2] = STR, [3] = MSG(T_KV), [4] = VARINT},
    [T_SPAN] = {[1] = BYTES, [2] = BYTES, [3] = STR, [4] = BYTES, [5] = STR, [6] = VARINT, [7] = I64, [8] = I64,
                [9] = MSG(T_KV), [10] = VARINT, [11] = MSG(T_EVENT), [12] = VARINT, [13] = MSG(T_LINK),
                [14] = VARINT, [15] = MSG(T_STATUS), [16] = I32},
    [T_EVENT] = {[1] = I64, [2] = STR, [3] = MSG(T_KV), [4] = VARINT},
    [T_LINK] = {[1] = BYTES, [2] = BYTES, [3] = STR, [4] = MSG(T_KV), [5] = VARINT, [6] = I32},
    [T_STATUS] = {[2] = STR, [3] = VARINT},
    [T_KV] = {[1] = STR, [2] = MSG(T_ANY)},
    [T_ANY] = {[1] = STR, [2] = VARINT, [3] = VARINT, [4] = I64, [5] = MSG(T_ARRAY), [6] = MSG(T_KVLIST), [7] = BYTES,
               [8] = VARINT},
    [T_ARRAY] = {[1] = MSG(T_ANY)},
    [T_KVLIST] = {[1] = MSG(T_KV)},
};
#undef MSG
#undef STR
#undef BYTES
#undef VARINT
#undef I64
#undef I32
static const int WIRE_TYPE[] = {[V_STRING] = WT_LEN, [V_BYTES] = WT_LEN, [V_VARINT] = WT_VARINT,
                                [V_I64] = WT_I64,    [V_I32] = WT_I32,   [V_MESSAGE] = WT_LEN};
/* Nesting the check follows (upb refuses past 100): deeper, upb decides. */
#define MAX_CHECK_DEPTH 64

/* A message of the given type, and below it, as upb reads it; each span's ids checked and the span counted. */
static int check_message(const uint8_t *d, Py_ssize_t s, Py_ssize_t e, int type, int depth, Py_ssize_t *count) {
    if (depth > MAX_CHECK_DEPTH) return FALLBACK;
    /* a span's ids: where the last one written of each starts, and its length */
    Py_ssize_t trace_at = 0, trace = 0, span_at = 0, span = 0, parent = 0;
    Py_ssize_t pos = s;
    while (pos < e) {
        Field f;
        TRY(next_field(d, e, &pos, &f));
        if (f.number > 16) return FALLBACK;
        Slot slot = SCHEMA[type][f.number];
        if (slot.kind == V_NONE || f.type != WIRE_TYPE[slot.kind]) return FALLBACK;
        if (slot.kind == V_STRING) {
            if (!utf8_valid(d + f.payload, f.end - f.payload)) return FALLBACK;
        } else if (slot.kind == V_MESSAGE) {
            TRY(check_message(d, f.payload, f.end, slot.message, depth + 1, count));
        } else if (type == T_SPAN && f.number == 1) {
            trace_at = f.payload;
            trace = f.end - f.payload;
        } else if (type == T_SPAN && f.number == 2) {
            span_at = f.payload;
            span = f.end - f.payload;
        } else if (type == T_SPAN && f.number == 4) {
            parent = f.end - f.payload;
        }
    }
    if (type != T_SPAN) return OK;
    if (trace != 16 || !nonzero(d + trace_at, 16) || span != 8 || !nonzero(d + span_at, 8) || (parent != 0 && parent != 8))
        return FALLBACK;
    (*count)++;
    return OK;
}

static PyObject *valid_spans(PyObject *module, PyObject *arg) {
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t count = 0;
    int rc = check_message(data.buf, 0, data.len, T_REQUEST, 0, &count);
    PyBuffer_Release(&data);
    if (rc == FALLBACK) Py_RETURN_NONE;
    return rc == OK ? PyLong_FromSsize_t(count) : NULL;
}

/* ---- attribute values as Python values (otlp/values.python_value) ------------------------------------ */

/* python_value()'s nesting limit here; deeper values are left to upb (which refuses past its own). */
#define MAX_VALUE_DEPTH 64

static int kv_into(const uint8_t *d, const Field *kv, PyObject *dict, int depth);

/* An AnyValue as otlp.values.python_value reads it (arrays as tuples, key-value lists as dicts, unset as None);
 * NULL with *rc FALLBACK for anything upb could read otherwise (two members set, a member with another wire
 * type, a member this does not know), with *rc ERR for a Python error. */
static PyObject *any_value(const uint8_t *d, Py_ssize_t s, Py_ssize_t e, int depth, int *rc) {
    Field f;
    int members = 0;
    Py_ssize_t pos = s;
    *rc = FALLBACK;
    if (depth > MAX_VALUE_DEPTH) return NULL;
    while (pos < e) {
        if (next_field(d, e, &pos, &f) != OK || members++) return NULL;
    }
    if (members == 0) {
        *rc = OK;
        Py_RETURN_NONE;
    }
    PyObject *out = NULL;
    switch (f.number) {
    case 1:
    case 7:
        if (f.type != WT_LEN) return NULL;
        if (f.number == 7) {
            out = payload_bytes(d, &f);
        } else if ((out = decoded(d, &f, rc)) == NULL) {
            return NULL;
        }
        break;
    case 2:
        if (f.type != WT_VARINT) return NULL;
        out = PyBool_FromLong(f.value != 0);
        break;
    case 3:
        if (f.type != WT_VARINT) return NULL;
        out = PyLong_FromLongLong((long long)(int64_t)f.value);
        break;
    case 4: {
        double number;
        if (f.type != WT_I64) return NULL;
        memcpy(&number, &f.value, 8);
        out = PyFloat_FromDouble(number);
        break;
    }
    case 5:
    case 6: {
        if (f.type != WT_LEN) return NULL;
        out = f.number == 5 ? PyList_New(0) : PyDict_New();
        Py_ssize_t inner = f.payload;
        while (out != NULL && inner < f.end) {
            Field item;
            int got = next_field(d, f.end, &inner, &item);
            if (got != OK || item.number != 1 || item.type != WT_LEN) {
                Py_DECREF(out);
                return NULL;
            }
            if (f.number == 6) {
                got = kv_into(d, &item, out, depth + 1);
            } else {
                PyObject *value = any_value(d, item.payload, item.end, depth + 1, &got);
                if (value != NULL) got = append_new(out, value);
            }
            if (got != OK) {
                Py_DECREF(out);
                *rc = got;
                return NULL;
            }
        }
        if (out != NULL && f.number == 5) Py_SETREF(out, PyList_AsTuple(out));
        break;
    }
    default:
        return NULL; /* string_value_strindex (profiles), unknown members */
    }
    *rc = out == NULL ? ERR : OK;
    return out;
}

/* A KeyValue's key (1) and value (2), each at most once (upb would merge a value written twice). */
static int read_key_value(const uint8_t *d, const Field *kv, Field *key, int *has_key, Field *value, int *has_value) {
    Py_ssize_t pos = kv->payload;
    while (pos < kv->end) {
        Field f;
        TRY(next_field(d, kv->end, &pos, &f));
        if (f.number > 2) continue;
        if (f.type != WT_LEN || (f.number == 1 ? *has_key : *has_value)) return FALLBACK;
        if (f.number == 1) {
            *key = f;
            *has_key = 1;
        } else {
            *value = f;
            *has_value = 1;
        }
    }
    return OK;
}

/* A KeyValue into dict: key (or "") -> python value (None without one); a later key replaces an earlier one,
 * as in a dict built in order. */
static int kv_into(const uint8_t *d, const Field *kv, PyObject *dict, int depth) {
    Field key = {0}, value = {0};
    int has_key = 0, has_value = 0, rc;
    TRY(read_key_value(d, kv, &key, &has_key, &value, &has_value));
    PyObject *name = decoded(d, has_key ? &key : NULL, &rc);
    if (name == NULL) return rc;
    PyObject *python = has_value ? any_value(d, value.payload, value.end, depth, &rc) : Py_NewRef(Py_None);
    if (python == NULL) {
        Py_DECREF(name);
        return has_value ? rc : ERR;
    }
    rc = PyDict_SetItem(dict, name, python) == 0 ? OK : ERR;
    Py_DECREF(name);
    Py_DECREF(python);
    return rc;
}

PyDoc_STRVAR(request_facts_doc,
             "request_facts(data, watched=()) -> (resources, scopes, spans) | None\n\n"
             "What the tail sampler reads of a serialized ExportTraceServiceRequest, in one pass:\n"
             "resources: [(Resource bytes, schema_url bytes)], scopes: [(resource index, InstrumentationScope bytes,\n"
             "schema_url bytes)], spans: [(scope index, Span bytes, trace_id, is root, status code, start ns, end ns,\n"
             "name, has events, trace_state, watched)], watched: {key: python value} of the span's attributes whose\n"
             "key is in watched (a tuple of str), unset values left out, or None where an attribute is written in a\n"
             "way upb could read otherwise. None: malformed, or an encoding whose slices would not be the parsed\n"
             "message's parts (a resource or scope written twice, a known field with another wire type).");

/* A schema URL as bytes, checked to be UTF-8 as upb checks every string. */
static int schema_url(const uint8_t *d, const Field *f, PyObject **out) {
    if (f != NULL && !utf8_valid(d + f->payload, f->end - f->payload)) return FALLBACK;
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
        } else if (f.number == 2 && (f.type != WT_LEN || !utf8_valid(d + f.payload, f.end - f.payload))) {
            return FALLBACK;
        }
    }
    return OK;
}

/* Span fields read, by number: their wire type + 1 (0: not read). A repeated scalar or string: the last one
 * written wins, as in upb. */
static const int8_t SPAN_FIELDS[16] = {
    [1] = WT_LEN + 1,  /* trace_id */
    [2] = WT_LEN + 1,  /* span_id */
    [3] = WT_LEN + 1,  /* trace_state */
    [4] = WT_LEN + 1,  /* parent_span_id */
    [5] = WT_LEN + 1,  /* name */
    [6] = WT_VARINT + 1, /* kind */
    [7] = WT_I64 + 1,  /* start_time_unix_nano */
    [8] = WT_I64 + 1,  /* end_time_unix_nano */
    [11] = WT_LEN + 1, /* events */
    [15] = WT_LEN + 1, /* status */
};

/* The attribute keys the sampler watches: the str objects its dicts are keyed by, and their UTF-8. For
 * request_traces, the first span_keys of them tell something on any span (the rest only on a root), and
 * quiet[k] (a tuple of bytes, when quiet has that many) holds the encoded AnyValues of key k that tell
 * nothing on a span that is not a root, whatever else it carries. */
typedef struct {
    PyObject *keys;
    const char **bytes;
    Py_ssize_t *sizes, n, span_keys;
    PyObject *quiet; /* a tuple, or NULL */
    /* the keys by length (at most 255: longer ones all under 255), as chains: the first key of each length,
     * then the next of the same length (-1 ends a chain); an attribute's key is compared with a few at most */
    Py_ssize_t first[256], *next;
} Watched;

/* Which span keys a span's attributes set (the last value of each counts), which of them to a quiet value;
 * many: a span key past the 64th. */
typedef struct {
    uint64_t keys, quiet;
    int many;
} Telling;

static int quiet_value(const Watched *watched, Py_ssize_t k, const uint8_t *value, Py_ssize_t size) {
    if (watched->quiet == NULL || k >= PyTuple_GET_SIZE(watched->quiet)) return 0;
    PyObject *values = PyTuple_GET_ITEM(watched->quiet, k);
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(values); i++) {
        PyObject *known = PyTuple_GET_ITEM(values, i);
        if (PyBytes_GET_SIZE(known) == size && memcmp(PyBytes_AS_STRING(known), value, (size_t)size) == 0) return 1;
    }
    return 0;
}

/* What one reading makes of a request: a row per span, and one per resource (level 0) or scope (level 1)
 * from its head (the Resource or InstrumentationScope, NULL when absent) and schema URL (NULL when absent). */
typedef struct Reading Reading;
struct Reading {
    int (*span)(const uint8_t *d, const Field *span, Py_ssize_t scope, const Reading *reading, PyObject *out);
    int (*head)(const uint8_t *d, int level, const Field *head, const Field *url, Py_ssize_t parent, PyObject *out);
    const Watched *watched;
    void *state; /* the reading's own (request_traces: its Intake) */
};

/* The index of a KeyValue's key among the watched keys, or -1. */
static Py_ssize_t watched_index(const uint8_t *d, const Watched *watched, const Field *key, int has_key) {
    Py_ssize_t length = has_key ? key->end - key->payload : 0;
    for (Py_ssize_t k = watched->first[length < 255 ? length : 255]; k >= 0; k = watched->next[k]) {
        if (watched->sizes[k] == length && (!length || !memcmp(watched->bytes[k], d + key->payload, (size_t)length)))
            return k;
    }
    return -1;
}

/* A span's attribute into found if its key is watched (a later one replaces an earlier one in its place, an
 * unset value is left out: SpanInspector's reading); FALLBACK for an encoding upb could read otherwise. */
static int watched_into(const uint8_t *d, const Field *kv, const Watched *watched, PyObject *found) {
    Field key = {0}, value = {0};
    int has_key = 0, has_value = 0, rc;
    TRY(read_key_value(d, kv, &key, &has_key, &value, &has_value));
    Py_ssize_t k = watched_index(d, watched, &key, has_key);
    if (k < 0 || !has_value) return OK;
    PyObject *python = any_value(d, value.payload, value.end, 0, &rc);
    if (python == NULL) return rc;
    rc = python == Py_None || PyDict_SetItem(found, PyTuple_GET_ITEM(watched->keys, k), python) == 0 ? OK : ERR;
    Py_DECREF(python);
    return rc;
}

/* A span's attribute into telling, from its bytes alone (no Python value is made): a value of a span key is
 * quiet only as the very bytes of a quiet value; an empty AnyValue is unset, as any_value reads it. Anything
 * upb could read otherwise counts as telling (many): the span is then read whole. */
static void telling_into(const uint8_t *d, const Field *kv, const Watched *watched, Telling *telling) {
    Field key = {0}, value = {0};
    int has_key = 0, has_value = 0;
    if (read_key_value(d, kv, &key, &has_key, &value, &has_value) != OK) {
        telling->many = 1;
        return;
    }
    Py_ssize_t k = watched_index(d, watched, &key, has_key);
    if (k < 0 || k >= watched->span_keys || !has_value || value.end == value.payload) return;
    if (k >= 64) {
        telling->many = 1;
        return;
    }
    uint64_t bit = (uint64_t)1 << k;
    telling->keys |= bit;
    if (quiet_value(watched, k, d + value.payload, value.end - value.payload)) {
        telling->quiet |= bit;
    } else {
        telling->quiet &= ~bit;
    }
}

/* The fields of SPAN_FIELDS a span has: into seen (the last one written of each, as upb reads them), with
 * the status code (statuses merge: the last code written wins); with a watched key, the watched attributes'
 * values into *found (set to None when one is written in a way upb could read otherwise). */
static int span_fields(const uint8_t *d, const Field *span, const Watched *watched, Field seen[16], uint32_t *present,
                       int32_t *code, PyObject **found, Telling *telling) {
    Py_ssize_t pos = span->payload;
    while (pos < span->end) {
        Field f;
        TRY(next_field(d, span->end, &pos, &f));
        if (f.number == 9) {
            if (telling != NULL) {
                if (f.type == WT_LEN) {
                    telling_into(d, &f, watched, telling);
                } else {
                    telling->many = 1;
                }
            } else if (watched != NULL && watched->n && f.type == WT_LEN && *found != Py_None) {
                int rc = watched_into(d, &f, watched, *found);
                if (rc == FALLBACK) {
                    Py_SETREF(*found, Py_NewRef(Py_None));
                } else if (rc != OK) {
                    return rc;
                }
            }
            continue;
        }
        if (f.number >= 16 || SPAN_FIELDS[f.number] == 0) continue;
        if (f.type + 1 != SPAN_FIELDS[f.number]) return FALLBACK;
        if (f.number == 15) TRY(status_code(d, &f, code));
        seen[f.number] = f;
        *present |= 1u << f.number;
    }
    return OK;
}

/* A span's row of request_facts, from what span_fields read of it; blob and trace_id: its bytes and trace id
 * when the caller has made them already (NULL: made here). Steals found. */
static int facts_row(const uint8_t *d, const Field *span, Py_ssize_t scope, const Field seen[16], uint32_t present,
                     int32_t code, PyObject *found, PyObject *blob, PyObject *trace_id, PyObject *out) {
#define HAS(n) ((present >> (n)) & 1u)
    int root = !HAS(4) || seen[4].end == seen[4].payload;
    uint64_t start = HAS(7) ? seen[7].value : 0, end = HAS(8) ? seen[8].value : 0;
    PyObject *item = PyTuple_New(11), *part;
    if (item == NULL) {
        Py_DECREF(found);
        return ERR;
    }
    PyTuple_SET_ITEM(item, 10, found);
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
    PUT(1, blob ? Py_NewRef(blob) : PyBytes_FromStringAndSize((const char *)d + span->payload, span->end - span->payload));
    PUT(2, trace_id ? Py_NewRef(trace_id) : payload_bytes(d, HAS(1) ? &seen[1] : NULL));
    PUT(3, PyBool_FromLong(root));
    PUT(4, PyLong_FromLong(code));
    PUT(5, PyLong_FromUnsignedLongLong(start));
    PUT(6, PyLong_FromUnsignedLongLong(end));
    PUT(7, payload_text(d, HAS(5) ? &seen[5] : NULL));
    PUT(8, PyBool_FromLong(HAS(11)));
    PUT(9, payload_text(d, HAS(3) ? &seen[3] : NULL));
#undef PUT
#undef HAS
    return append_new(out, item);
}

/* A span's request_facts row to out; blob and trace_id as facts_row takes them. */
static int read_row(const uint8_t *d, const Field *span, Py_ssize_t scope, const Reading *reading, PyObject *blob,
                    PyObject *trace_id, PyObject *out) {
    Field seen[16];
    uint32_t present = 0;
    int32_t code = 0;
    /* the watched attributes' values; None when an attribute is written in a way upb could read otherwise */
    PyObject *found = PyDict_New();
    if (found == NULL) return ERR;
    int rc = span_fields(d, span, reading->watched, seen, &present, &code, &found, NULL);
    if (rc != OK) {
        Py_DECREF(found);
        return rc;
    }
    return facts_row(d, span, scope, seen, present, code, found, blob, trace_id, out);
}

static int span_facts(const uint8_t *d, const Field *span, Py_ssize_t scope, const Reading *reading, PyObject *out) {
    return read_row(d, span, scope, reading, NULL, NULL, out);
}

/* A ResourceSpans (level 0) or a ScopeSpans (level 1), which have the same shape: its resource or scope
 * (field 1), its ScopeSpans or Spans (2), its schema URL (3). Appends its row to rows[level]; parent: the
 * index of a ScopeSpans' resource. */
static int group_rows(const uint8_t *d, const Field *group, int level, Py_ssize_t parent, const Reading *reading,
                      PyObject *rows[3]) {
    Field head = {0}, url = {0};
    int has_head = 0, has_url = 0;
    Py_ssize_t index = PyList_GET_SIZE(rows[level]), pos = group->payload;
    while (pos < group->end) {
        Field f;
        TRY(next_field(d, group->end, &pos, &f));
        if (f.number > 3) continue;
        if (f.type != WT_LEN) return FALLBACK;
        if (f.number == 1) {
            if (has_head) return FALLBACK; /* written twice: upb would merge them */
            head = f;
            has_head = 1;
        } else if (f.number == 2) {
            TRY(level == 0 ? group_rows(d, &f, 1, index, reading, rows)
                           : reading->span(d, &f, index, reading, rows[2]));
        } else {
            url = f;
            has_url = 1;
        }
    }
    return reading->head(d, level, has_head ? &head : NULL, has_url ? &url : NULL, parent, rows[level]);
}

/* request_facts' resource and scope rows: (Resource bytes, schema URL), (resource index, scope bytes, URL). */
static int facts_head(const uint8_t *d, int level, const Field *head, const Field *url, Py_ssize_t parent,
                      PyObject *out) {
    PyObject *schema;
    TRY(schema_url(d, url, &schema));
    PyObject *raw = payload_bytes(d, head);
    PyObject *row = level == 0 ? Py_BuildValue("(NN)", raw, schema) : Py_BuildValue("(nNN)", parent, raw, schema);
    return append_new(out, row);
}

/* The request's rows[3] (resources, scopes, spans) as reading makes them, or None (FALLBACK) or NULL. */
static PyObject *read_request(const uint8_t *d, Py_ssize_t size, const Reading *reading) {
    PyObject *rows[3] = {PyList_New(0), PyList_New(0), PyList_New(0)}, *out = NULL;
    int rc = rows[0] != NULL && rows[1] != NULL && rows[2] != NULL ? OK : ERR;
    Py_ssize_t pos = 0;
    while (rc == OK && pos < size) {
        Field f;
        rc = next_field(d, size, &pos, &f);
        if (rc == OK && f.number == 1) rc = f.type == WT_LEN ? group_rows(d, &f, 0, 0, reading, rows) : FALLBACK;
    }
    if (rc == OK) {
        out = PyTuple_Pack(3, rows[0], rows[1], rows[2]);
    } else if (rc == FALLBACK) {
        out = Py_NewRef(Py_None);
    }
    for (int i = 0; i < 3; i++) Py_XDECREF(rows[i]);
    return out;
}

/* The watched keys of a request_facts or request_traces call (a tuple of str, or NULL: none). */
static int watched_keys(PyObject *keys, Watched *watched) {
    watched->keys = keys;
    watched->bytes = NULL;
    watched->sizes = watched->next = NULL;
    watched->n = keys ? PyTuple_GET_SIZE(keys) : 0;
    watched->span_keys = 0;
    watched->quiet = NULL;
    for (int length = 0; length < 256; length++) watched->first[length] = -1;
    if (!watched->n) return OK;
    watched->bytes = PyMem_New(const char *, watched->n);
    watched->sizes = PyMem_New(Py_ssize_t, watched->n);
    watched->next = PyMem_New(Py_ssize_t, watched->n);
    if (watched->bytes == NULL || watched->sizes == NULL || watched->next == NULL) {
        PyErr_NoMemory();
        return ERR;
    }
    /* chained last key first, so each chain lists its keys in their order */
    for (Py_ssize_t k = watched->n - 1; k >= 0; k--) {
        PyObject *key = PyTuple_GET_ITEM(keys, k);
        if (!PyUnicode_Check(key)) {
            PyErr_SetString(PyExc_TypeError, "watched keys must be str");
            return ERR;
        }
        if ((watched->bytes[k] = PyUnicode_AsUTF8AndSize(key, &watched->sizes[k])) == NULL) return ERR;
        Py_ssize_t bucket = watched->sizes[k] < 255 ? watched->sizes[k] : 255;
        watched->next[k] = watched->first[bucket];
        watched->first[bucket] = k;
    }
    return OK;
}

static void watched_free(Watched *watched) {
    PyMem_Free(watched->bytes);
    PyMem_Free(watched->sizes);
    PyMem_Free(watched->next);
}

static PyObject *request_facts(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *keys = NULL, *out = NULL;
    if (!PyArg_ParseTuple(args, "y*|O!", &data, &PyTuple_Type, &keys)) return NULL;
    Watched watched;
    if (watched_keys(keys, &watched) == OK) {
        Reading reading = {span_facts, facts_head, &watched, NULL};
        out = read_request(data.buf, data.len, &reading);
    }
    watched_free(&watched);
    PyBuffer_Release(&data);
    return out;
}

/* ---- the tail sampler's intake: a request's spans grouped by trace (sampling/span_reading.py) ----------- */

PyDoc_STRVAR(request_traces_doc,
             "request_traces(data, watched=(), span_keys=-1, quiet=(), every_span=False)\n"
             "    -> (resources, scopes, traces) | None\n\n"
             "request_facts' reading, grouped by trace: traces: [(trace_id, runs, notable, spans, size, start, end)]\n"
             "in the order the traces first appear, where runs: [(scope index, [Span bytes])], each a run of the\n"
             "trace's spans under one scope, in the request's order; notable: the request_facts rows (or ()) of the spans\n"
             "the sampler must look at (a root, an error status, events, a trace state, a value of one of the\n"
             "first span_keys watched keys (-1: all) not in quiet[key index] (encoded AnyValues), or every span with\n"
             "every_span); spans and size: how many spans and their bytes; start: the earliest\n"
             "start that is not 0 (0: none), end: the latest end. None where request_facts gives None.");

/* What request_traces keeps per trace while it reads: its id, runs and notable rows (owned; notable NULL
 * while there are none), the run being filled and the totals. */
typedef struct {
    PyObject *trace_id, *runs, *notable;
    PyObject *run; /* borrowed: the list of the last run (runs owns it) */
    Py_ssize_t spans, size, scope;
    uint64_t start, end;
} Totals;

typedef struct {
    PyObject *index; /* trace id -> its position in totals */
    int every_span;
    Totals *totals;
    Py_ssize_t count, capacity;
} Intake;

static void intake_free(Intake *intake) {
    for (Py_ssize_t i = 0; i < intake->count; i++) {
        Py_XDECREF(intake->totals[i].trace_id);
        Py_XDECREF(intake->totals[i].runs);
        Py_XDECREF(intake->totals[i].notable);
    }
    PyMem_Free(intake->totals);
    Py_XDECREF(intake->index);
}

/* The totals of the trace, made at its first span. */
static int trace_totals(Intake *intake, PyObject *trace_id, Totals **totals) {
    PyObject *position = PyDict_GetItemWithError(intake->index, trace_id);
    if (position != NULL) {
        *totals = &intake->totals[PyLong_AsSsize_t(position)];
        return OK;
    }
    if (PyErr_Occurred()) return ERR;
    if (intake->count == intake->capacity) {
        Py_ssize_t capacity = intake->capacity ? 2 * intake->capacity : 16;
        Totals *grown = PyMem_Resize(intake->totals, Totals, capacity);
        if (grown == NULL) {
            PyErr_NoMemory();
            return ERR;
        }
        intake->totals = grown;
        intake->capacity = capacity;
    }
    PyObject *number = PyLong_FromSsize_t(intake->count), *runs = PyList_New(0);
    int rc = number && runs && PyDict_SetItem(intake->index, trace_id, number) == 0 ? OK : ERR;
    Py_XDECREF(number);
    if (rc != OK) {
        Py_XDECREF(runs);
        return ERR;
    }
    Totals *made = &intake->totals[intake->count++];
    *made = (Totals){Py_NewRef(trace_id), runs, NULL, NULL, 0, 0, -1, 0, 0};
    *totals = made;
    return OK;
}

/* The notable span's request_facts row, to its trace's notable rows: its watched values read now (the
 * first pass only told whether any could matter). */
static int notable_row(const uint8_t *d, const Field *span, Py_ssize_t scope, const Reading *reading, Totals *totals,
                       PyObject *blob) {
    if (totals->notable == NULL && (totals->notable = PyList_New(0)) == NULL) return ERR;
    return read_row(d, span, scope, reading, blob, totals->trace_id, totals->notable);
}

/* A span into its trace's totals: its bytes to the trace's run under its scope (a new run when the scope
 * changed), its row to notable when the sampler must look at it. */
static int traces_span(const uint8_t *d, const Field *span, Py_ssize_t scope, const Reading *reading, PyObject *out) {
    Intake *intake = reading->state;
    Field seen[16];
    uint32_t present = 0;
    int32_t code = 0;
    Telling telling = {0, 0, 0};
    TRY(span_fields(d, span, reading->watched, seen, &present, &code, NULL, &telling));
#define HAS(n) ((present >> (n)) & 1u)
    /* the name is decoded only for notable spans; upb refuses a name that is not UTF-8 */
    if (HAS(5) && !utf8_valid(d + seen[5].payload, seen[5].end - seen[5].payload)) return FALLBACK;
    int notable = intake->every_span || !HAS(4) || seen[4].end == seen[4].payload || code == 2 || HAS(11) ||
                  (HAS(3) && seen[3].end > seen[3].payload) || telling.many || (telling.keys & ~telling.quiet);
    uint64_t start = HAS(7) ? seen[7].value : 0, end = HAS(8) ? seen[8].value : 0;
    PyObject *trace_id = payload_bytes(d, HAS(1) ? &seen[1] : NULL);
#undef HAS
    if (trace_id == NULL) return ERR;
    Totals *totals;
    int rc = trace_totals(intake, trace_id, &totals);
    Py_DECREF(trace_id);
    if (rc != OK) return rc;
    if (totals->scope != scope) {
        PyObject *run = PyList_New(0), *index = PyLong_FromSsize_t(scope);
        PyObject *pair = run && index ? PyTuple_Pack(2, index, run) : NULL;
        Py_XDECREF(index);
        Py_XDECREF(run); /* the pair holds it */
        TRY(append_new(totals->runs, pair));
        totals->run = run;
        totals->scope = scope;
    }
    PyObject *blob = PyBytes_FromStringAndSize((const char *)d + span->payload, span->end - span->payload);
    if (blob == NULL) return ERR;
    if (PyList_Append(totals->run, blob) < 0) {
        Py_DECREF(blob);
        return ERR;
    }
    totals->spans++;
    totals->size += span->end - span->payload;
    if (start && (totals->start == 0 || start < totals->start)) totals->start = start;
    if (end > totals->end) totals->end = end;
    rc = notable ? notable_row(d, span, scope, reading, totals, blob) : OK;
    Py_DECREF(blob);
    return rc;
}

/* The traces' rows, in the order of their first spans. */
static int finish_traces(PyObject *traces, const Intake *intake) {
    PyObject *none = PyTuple_New(0);
    int rc = none == NULL ? ERR : OK;
    for (Py_ssize_t i = 0; rc == OK && i < intake->count; i++) {
        const Totals *t = &intake->totals[i];
        PyObject *counts[4] = {PyLong_FromSsize_t(t->spans), PyLong_FromSsize_t(t->size),
                               PyLong_FromUnsignedLongLong(t->start), PyLong_FromUnsignedLongLong(t->end)};
        PyObject *row = counts[0] && counts[1] && counts[2] && counts[3]
                            ? PyTuple_Pack(7, t->trace_id, t->runs, t->notable ? t->notable : none, counts[0],
                                           counts[1], counts[2], counts[3])
                            : NULL;
        for (int k = 0; k < 4; k++) Py_XDECREF(counts[k]);
        rc = append_new(traces, row);
    }
    Py_XDECREF(none);
    return rc;
}

/* quiet: a tuple of tuples of bytes. */
static int quiet_table(PyObject *quiet, Watched *watched) {
    for (Py_ssize_t k = 0; quiet != NULL && k < PyTuple_GET_SIZE(quiet); k++) {
        PyObject *values = PyTuple_GET_ITEM(quiet, k);
        int ok = PyTuple_Check(values);
        for (Py_ssize_t i = 0; ok && i < PyTuple_GET_SIZE(values); i++) ok = PyBytes_Check(PyTuple_GET_ITEM(values, i));
        if (!ok) {
            PyErr_SetString(PyExc_TypeError, "quiet values must be a tuple of tuples of bytes");
            return ERR;
        }
    }
    watched->quiet = quiet;
    return OK;
}

static PyObject *request_traces(PyObject *module, PyObject *args) {
    Py_buffer data;
    PyObject *keys = NULL, *quiet = NULL, *out = NULL;
    Py_ssize_t span_keys = -1; /* all of them */
    int every_span = 0;
    if (!PyArg_ParseTuple(args, "y*|O!nO!p", &data, &PyTuple_Type, &keys, &span_keys, &PyTuple_Type, &quiet,
                          &every_span))
        return NULL;
    Watched watched;
    Intake intake = {NULL, every_span, NULL, 0, 0};
    if (watched_keys(keys, &watched) == OK && quiet_table(quiet, &watched) == OK &&
        (intake.index = PyDict_New()) != NULL) {
        watched.span_keys = span_keys < 0 ? watched.n : span_keys;
        Reading reading = {traces_span, facts_head, &watched, &intake};
        out = read_request(data.buf, data.len, &reading);
        if (out != NULL && out != Py_None && finish_traces(PyTuple_GET_ITEM(out, 2), &intake) != OK) Py_CLEAR(out);
    }
    watched_free(&watched);
    intake_free(&intake);
    PyBuffer_Release(&data);
    return out;
}

/* ---- rows for the embedded span store (store/spans.py) ------------------------------------------------ */

PyDoc_STRVAR(store_rows_doc,
             "store_rows(data) -> (resources, scopes, spans) | None\n\n"
             "The embedded store's rows of a serialized ExportTraceServiceRequest, in one pass: resources:\n"
             "[(Resource bytes, service.name)], scopes: [(resource index, InstrumentationScope bytes, name, version)],\n"
             "spans: [(scope index, trace_id, span_id, parent_span_id, name, kind, start ns, end ns, status code,\n"
             "Span bytes)], times past the signed 64-bit range saturated. None: as request_facts().");

/* A row appended, or FALLBACK where one of its strings is not UTF-8 (upb would not read the request). */
static int append_row(PyObject *list, PyObject *row) {
    if (row == NULL && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
        PyErr_Clear();
        return FALLBACK;
    }
    return append_new(list, row);
}

static PyObject *saturated(const Field *time) {
    uint64_t ns = time != NULL ? time->value : 0;
    return PyLong_FromLongLong(ns > (uint64_t)INT64_MAX ? INT64_MAX : (long long)ns);
}

static int store_span(const uint8_t *d, const Field *span, Py_ssize_t scope, const Reading *reading, PyObject *out) {
    Field seen[16];
    uint32_t present = 0;
    int32_t code = 0;
    PyObject *unused = NULL; /* watched values: none without watched keys */
    TRY(span_fields(d, span, reading->watched, seen, &present, &code, &unused, NULL));
#define FIELD(n) (((present >> (n)) & 1u) ? &seen[n] : NULL)
    int32_t kind = FIELD(6) != NULL ? (int32_t)(uint32_t)seen[6].value : 0; /* an open enum: int32, as upb */
    PyObject *row = Py_BuildValue(
        "(nNNNNiNNiN)", scope, payload_bytes(d, FIELD(1)), payload_bytes(d, FIELD(2)), payload_bytes(d, FIELD(4)),
        payload_text(d, FIELD(5)), kind, saturated(FIELD(7)), saturated(FIELD(8)), code,
        PyBytes_FromStringAndSize((const char *)d + span->payload, span->end - span->payload));
#undef FIELD
    return append_row(out, row);
}

/* The first service.name attribute's string value ("" when it holds another type, or there is none). */
static int service_name(const uint8_t *d, const Field *resource, PyObject **out) {
    Py_ssize_t pos = resource != NULL ? resource->payload : 0, end = resource != NULL ? resource->end : 0;
    while (pos < end) {
        Field f, key = {0}, value = {0};
        int has_key = 0, has_value = 0, rc;
        TRY(next_field(d, end, &pos, &f));
        if (f.number != 1) continue;
        if (f.type != WT_LEN) return FALLBACK;
        TRY(read_key_value(d, &f, &key, &has_key, &value, &has_value));
        if (!has_key || key.end - key.payload != 12 || memcmp(d + key.payload, "service.name", 12) != 0) continue;
        PyObject *python = has_value ? any_value(d, value.payload, value.end, 0, &rc) : Py_NewRef(Py_None);
        if (python == NULL) return rc;
        if (PyUnicode_Check(python)) {
            *out = python;
            return OK;
        }
        Py_DECREF(python);
        break;
    }
    *out = PyUnicode_FromStringAndSize(NULL, 0);
    return *out == NULL ? ERR : OK;
}

/* A resource's row (its bytes, service name) or a scope's (its resource's index, its bytes, name, version). */
static int store_head(const uint8_t *d, int level, const Field *head, const Field *url, Py_ssize_t parent,
                      PyObject *out) {
    (void)url;
    if (level == 0) {
        PyObject *service;
        TRY(service_name(d, head, &service));
        return append_row(out, Py_BuildValue("(NN)", payload_bytes(d, head), service));
    }
    Field strings[3];
    int has[3] = {0, 0, 0};
    Py_ssize_t pos = head != NULL ? head->payload : 0, end = head != NULL ? head->end : 0;
    while (pos < end) {
        Field f;
        TRY(next_field(d, end, &pos, &f));
        if (f.number > 2) continue;
        if (f.type != WT_LEN) return FALLBACK;
        strings[f.number] = f; /* name (1), version (2): the last one written, as upb reads them */
        has[f.number] = 1;
    }
    return append_row(out, Py_BuildValue("(nNNN)", parent, payload_bytes(d, head),
                                         payload_text(d, has[1] ? &strings[1] : NULL),
                                         payload_text(d, has[2] ? &strings[2] : NULL)));
}

static PyObject *store_rows(PyObject *module, PyObject *arg) {
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    Reading reading = {store_span, store_head, NULL, NULL};
    PyObject *out = read_request(data.buf, data.len, &reading);
    PyBuffer_Release(&data);
    return out;
}

/* ---- whole spans as Python values, for the normalizer (agents/normalize.py) -------------------------- */

/* Singular fields of a message read once each (a second one: left to upb, which would merge them). */
typedef struct {
    Field at[17];
    uint32_t present;
} Singles;

static int single(Singles *seen, const Field *f, int type) {
    if (f->type != type || (seen->present >> f->number) & 1u) return FALLBACK;
    seen->at[f->number] = *f;
    seen->present |= 1u << f->number;
    return OK;
}

#define SEEN(seen, n) (((seen).present >> (n)) & 1u)
#define FIELD_OR_NULL(seen, n) (SEEN(seen, n) ? &(seen).at[n] : NULL)

/* An Event as (name, attributes dict). */
static int event_record(const uint8_t *d, const Field *event, PyObject *events) {
    static const int8_t TYPES[5] = {-1, WT_I64, WT_LEN, WT_LEN, WT_VARINT};
    Singles seen = {0};
    PyObject *attributes = PyDict_New();
    if (attributes == NULL) return ERR;
    int rc = OK;
    Py_ssize_t pos = event->payload;
    while (rc == OK && pos < event->end) {
        Field f;
        rc = next_field(d, event->end, &pos, &f);
        if (rc != OK || f.number > 4) continue;
        if (f.number == 3) {
            rc = f.type == WT_LEN ? kv_into(d, &f, attributes, 0) : FALLBACK;
        } else {
            rc = single(&seen, &f, TYPES[f.number]);
            if (rc == OK && f.number == 2 && !utf8_valid(d + f.payload, f.end - f.payload)) rc = FALLBACK;
        }
    }
    if (rc != OK) {
        Py_DECREF(attributes);
        return rc;
    }
    PyObject *name = payload_text(d, FIELD_OR_NULL(seen, 2));
    if (name == NULL) {
        Py_DECREF(attributes);
        return ERR;
    }
    return append_new(events, Py_BuildValue("(NN)", name, attributes));
}

/* A Status's code and message. */
static int status_record(const uint8_t *d, const Field *status, int32_t *code, PyObject **message) {
    Singles seen = {0};
    Py_ssize_t pos = status->payload;
    while (pos < status->end) {
        Field f;
        TRY(next_field(d, status->end, &pos, &f));
        if (f.number == 2) {
            TRY(single(&seen, &f, WT_LEN));
            if (!utf8_valid(d + f.payload, f.end - f.payload)) return FALLBACK;
        } else if (f.number == 3) {
            TRY(single(&seen, &f, WT_VARINT));
            *code = (int32_t)(uint32_t)f.value;
        }
    }
    *message = payload_text(d, FIELD_OR_NULL(seen, 2));
    return *message == NULL ? ERR : OK;
}

PyDoc_STRVAR(span_record_doc,
             "span_record(span) -> (trace_id, span_id, parent_span_id, name, start ns, end ns, status code,\n"
             "    status message, attributes, events) | None\n\n"
             "A serialized Span as the normalizer reads it: attributes as a dict of python values (otlp.values),\n"
             "events as [(name, attributes dict)]. None: an encoding upb could read otherwise (a singular field\n"
             "written twice, a known field with another wire type, an AnyValue with two members) or malformed.");

static PyObject *span_record(PyObject *module, PyObject *arg) {
    /* Span fields by number: their wire type, -1 for repeated messages read below, -2 for fields not read. */
    static const int8_t TYPES[17] = {-2,     WT_LEN,    WT_LEN, WT_LEN,    WT_LEN, WT_LEN, WT_VARINT, WT_I64, WT_I64,
                                     -1,     WT_VARINT, -1,     WT_VARINT, -2,     WT_VARINT, WT_LEN, WT_I32};
    Py_buffer data;
    if (PyObject_GetBuffer(arg, &data, PyBUF_SIMPLE) < 0) return NULL;
    const uint8_t *d = data.buf;
    Singles seen = {0};
    int32_t code = 0;
    PyObject *attributes = PyDict_New(), *events = PyList_New(0), *message = NULL, *out = NULL;
    int rc = attributes != NULL && events != NULL ? OK : ERR;
    Py_ssize_t pos = 0;
    while (rc == OK && pos < data.len) {
        Field f;
        rc = next_field(d, data.len, &pos, &f);
        if (rc != OK || f.number > 16) continue;
        if (f.number == 9) {
            rc = f.type == WT_LEN ? kv_into(d, &f, attributes, 0) : FALLBACK;
        } else if (f.number == 11) {
            rc = f.type == WT_LEN ? event_record(d, &f, events) : FALLBACK;
        } else if (f.number == 13) {
            rc = f.type == WT_LEN ? OK : FALLBACK; /* links: not read */
        } else {
            rc = single(&seen, &f, TYPES[f.number]);
            if (rc == OK && (f.number == 3 || f.number == 5) && !utf8_valid(d + f.payload, f.end - f.payload))
                rc = FALLBACK;
        }
    }
    if (rc == OK && SEEN(seen, 15)) rc = status_record(d, &seen.at[15], &code, &message);
    if (rc == OK && message == NULL) rc = (message = PyUnicode_FromStringAndSize(NULL, 0)) != NULL ? OK : ERR;
    if (rc == OK) {
        uint64_t start = SEEN(seen, 7) ? seen.at[7].value : 0, end = SEEN(seen, 8) ? seen.at[8].value : 0;
        out = Py_BuildValue("(NNNNKKiOOO)", payload_bytes(d, FIELD_OR_NULL(seen, 1)), payload_bytes(d, FIELD_OR_NULL(seen, 2)),
                            payload_bytes(d, FIELD_OR_NULL(seen, 4)), payload_text(d, FIELD_OR_NULL(seen, 5)),
                            (unsigned long long)start, (unsigned long long)end, (int)code, message, attributes, events);
    } else if (rc == FALLBACK) {
        out = Py_NewRef(Py_None);
    }
    Py_XDECREF(attributes);
    Py_XDECREF(events);
    Py_XDECREF(message);
    PyBuffer_Release(&data);
    return out;
}

PyDoc_STRVAR(attribute_dict_doc,
             "attribute_dict(message, field) -> dict | None\n\n"
             "The repeated KeyValue field `field` of a serialized message (a Resource's attributes: 1) as a dict of\n"
             "python values, as span_record() reads a span's. None: as span_record().");

static PyObject *attribute_dict(PyObject *module, PyObject *args) {
    Py_buffer data;
    unsigned int number;
    if (!PyArg_ParseTuple(args, "y*I", &data, &number)) return NULL;
    const uint8_t *d = data.buf;
    PyObject *out = PyDict_New();
    int rc = out != NULL ? OK : ERR;
    Py_ssize_t pos = 0;
    while (rc == OK && pos < data.len) {
        Field f;
        rc = next_field(d, data.len, &pos, &f);
        if (rc == OK && f.number == number) rc = f.type == WT_LEN ? kv_into(d, &f, out, 0) : FALLBACK;
    }
    if (rc != OK) {
        Py_CLEAR(out);
        if (rc == FALLBACK) out = Py_NewRef(Py_None);
    }
    PyBuffer_Release(&data);
    return out;
}

/* ---- framing kept spans (sampling/kept_output.py) ----------------------------------------------------- */

PyDoc_STRVAR(scope_spans_field_doc,
             "scope_spans_field(scope, spans, state, suffix, merge_marked, merge_trace_state) -> bytes | None\n\n"
             "A ScopeSpans field (tag 2, its length, the scope frame, then each span as a Span field with state and\n"
             "suffix appended), as kept_output frames a run of buffered spans. None when a span must be merged\n"
             "instead: one holding b'failpath.sampling.' with merge_marked, or one that may have a trace state\n"
             "(wire.may_have_trace_state) with merge_trace_state.");

/* wire.may_have_trace_state: False only when the span is laid out as upb writes it (a 16-byte trace id, an
 * 8-byte span id) and the next byte is not trace_state's tag. */
static int may_have_trace_state(const uint8_t *p, Py_ssize_t n) {
    if (n >= 20 && p[0] == 0x0a && p[1] == 0x10 && p[18] == 0x12 && p[19] == 0x08) return n > 28 && p[28] == 0x1a;
    return 1;
}

static PyObject *scope_spans_field(PyObject *module, PyObject *args) {
    Py_buffer scope, state, suffix;
    PyObject *spans;
    int marked, stated;
    if (!PyArg_ParseTuple(args, "y*O!y*y*pp", &scope, &PyList_Type, &spans, &state, &suffix, &marked, &stated))
        return NULL;
    static const char prefix[] = "failpath.sampling.";
    const Py_ssize_t prefix_size = sizeof prefix - 1, extra = state.len + suffix.len, count = PyList_GET_SIZE(spans);
    PyObject *out = NULL;
    Py_ssize_t inner = scope.len;
    int merge = 0;
    for (Py_ssize_t i = 0; i < count && !merge; i++) {
        PyObject *blob = PyList_GET_ITEM(spans, i);
        if (!PyBytes_Check(blob)) {
            PyErr_SetString(PyExc_TypeError, "spans must be a list of bytes");
            goto done;
        }
        const uint8_t *p = (const uint8_t *)PyBytes_AS_STRING(blob);
        Py_ssize_t n = PyBytes_GET_SIZE(blob);
        merge = (marked && memmem(p, (size_t)n, prefix, (size_t)prefix_size) != NULL) ||
                (stated && may_have_trace_state(p, n));
        inner += 1 + varint_size((uint64_t)(n + extra)) + n + extra;
    }
    if (merge) {
        out = Py_NewRef(Py_None);
        goto done;
    }
    out = PyBytes_FromStringAndSize(NULL, 1 + varint_size((uint64_t)inner) + inner);
    if (out == NULL) goto done;
    uint8_t *w = (uint8_t *)PyBytes_AS_STRING(out);
    *w++ = 0x12; /* ResourceSpans.scope_spans */
    w += put_varint(w, (uint64_t)inner);
    memcpy(w, scope.buf, (size_t)scope.len);
    w += scope.len;
    for (Py_ssize_t i = 0; i < count; i++) {
        PyObject *blob = PyList_GET_ITEM(spans, i);
        Py_ssize_t n = PyBytes_GET_SIZE(blob);
        *w++ = 0x12; /* ScopeSpans.spans */
        w += put_varint(w, (uint64_t)(n + extra));
        memcpy(w, PyBytes_AS_STRING(blob), (size_t)n);
        w += n;
        memcpy(w, state.buf, (size_t)state.len);
        w += state.len;
        memcpy(w, suffix.buf, (size_t)suffix.len);
        w += suffix.len;
    }
done:
    PyBuffer_Release(&scope);
    PyBuffer_Release(&state);
    PyBuffer_Release(&suffix);
    return out;
}

static PyMethodDef methods[] = {
    {"span_ranges", span_ranges, METH_O, span_ranges_doc},
    {"valid_spans", valid_spans, METH_O, valid_spans_doc},
    {"request_facts", request_facts, METH_VARARGS, request_facts_doc},
    {"request_traces", request_traces, METH_VARARGS, request_traces_doc},
    {"store_rows", store_rows, METH_O, store_rows_doc},
    {"span_record", span_record, METH_O, span_record_doc},
    {"attribute_dict", attribute_dict, METH_VARARGS, attribute_dict_doc},
    {"scope_spans_field", scope_spans_field, METH_VARARGS, scope_spans_field_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "failpath.otlp._spans", PyDoc_STR("failpath's native per-span reading and framing"), -1, methods,
};

PyMODINIT_FUNC PyInit__spans(void) { return PyModule_Create(&module_def); }
