/* Reading protobuf wire format, shared by failpath's C extensions (redaction/_native.c, otlp/_spans.c).
 * Static inline functions only: each extension includes its own copy. */
#ifndef FAILPATH_WIRE_H
#define FAILPATH_WIRE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* Results inside the walk: OK, or FALLBACK (not reproducible here, or malformed), or ERR (exception set). */
enum { OK = 0, FALLBACK = 1, ERR = -1 };

#define TRY(expr)                                                                                                \
    do {                                                                                                        \
        int rc_ = (expr);                                                                                       \
        if (rc_ != OK) return rc_;                                                                              \
    } while (0)

/* ---- UTF-8 --------------------------------------------------------------------------------------------- */

/* The length of the run of ASCII bytes p[0:n] starts with, 32 then eight bytes at a time. */
static inline Py_ssize_t ascii_run(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t i = 0;
    for (; i + 32 <= n; i += 32) {
        uint64_t words[4];
        memcpy(words, p + i, 32);
        if ((words[0] | words[1] | words[2] | words[3]) & 0x8080808080808080ULL) break;
    }
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        if (word & 0x8080808080808080ULL) break;
    }
    while (i < n && p[i] < 0x80) i++;
    return i;
}

/* Code points in a valid UTF-8 string, or -1 when it is not valid UTF-8 (as upb and Python judge it:
 * no overlong forms, no surrogates, nothing past U+10FFFF). */
static inline Py_ssize_t utf8_chars(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t chars = 0, i = 0;
    while (i < n) {
        uint8_t c = p[i];
        if (c < 0x80) {
            Py_ssize_t run = ascii_run(p + i, n - i);
            i += run;
            chars += run;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            if (i + 1 >= n || (p[i + 1] & 0xC0) != 0x80) return -1;
            i += 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            if (i + 2 >= n || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80) return -1;
            if (c == 0xE0 && p[i + 1] < 0xA0) return -1;
            if (c == 0xED && p[i + 1] >= 0xA0) return -1;
            i += 3;
        } else if (c >= 0xF0 && c <= 0xF4) {
            if (i + 3 >= n || (p[i + 1] & 0xC0) != 0x80 || (p[i + 2] & 0xC0) != 0x80 || (p[i + 3] & 0xC0) != 0x80)
                return -1;
            if (c == 0xF0 && p[i + 1] < 0x90) return -1;
            if (c == 0xF4 && p[i + 1] >= 0x90) return -1;
            i += 4;
        } else {
            return -1;
        }
        chars++;
    }
    return chars;
}

/* Code points in a string already known to be valid UTF-8: the bytes that do not continue a sequence
 * (10xxxxxx), eight at a time. */
static inline Py_ssize_t utf8_count(const uint8_t *p, Py_ssize_t n) {
    Py_ssize_t continuing = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, p + i, 8);
        uint64_t ones = (word & ~(word << 1) & 0x8080808080808080ULL) >> 7; /* a 1 in each such byte */
        continuing += (Py_ssize_t)((ones * 0x0101010101010101ULL) >> 56);   /* summed into the top byte */
    }
    for (; i < n; i++) continuing += (p[i] & 0xC0) == 0x80;
    return n - continuing;
}

/* Whether p[0:n] is valid UTF-8 (as utf8_chars judges it). */
static inline int utf8_valid(const uint8_t *p, Py_ssize_t n) { return utf8_chars(p, n) >= 0; }

/* ---- wire reading ------------------------------------------------------------------------------------- */

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

typedef struct {
    Py_ssize_t start;   /* where the field's tag begins */
    Py_ssize_t payload; /* LEN: where its payload begins; else where its value begins */
    Py_ssize_t end;     /* just past the field */
    uint32_t number;
    int type;
    uint64_t value; /* VARINT / I64 / I32 */
} Field;

/* A varint at *pos (minimal encoding only: a longer one would not be written back the same). */
static inline __attribute__((always_inline)) int read_varint(const uint8_t *d, Py_ssize_t end, Py_ssize_t *pos, uint64_t *out) {
    uint64_t v = 0;
    Py_ssize_t p = *pos;
    for (int shift = 0; shift < 70; shift += 7) {
        if (p >= end) return FALLBACK;
        uint8_t b = d[p++];
        if (shift == 63 && b > 1) return FALLBACK;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            if (b == 0 && shift > 0) return FALLBACK;
            *pos = p;
            *out = v;
            return OK;
        }
    }
    return FALLBACK;
}

static inline __attribute__((always_inline)) int next_field(const uint8_t *d, Py_ssize_t end, Py_ssize_t *pos, Field *f) {
    uint64_t tag;
    f->start = *pos;
    if (read_varint(d, end, pos, &tag) != OK) return FALLBACK;
    f->number = (uint32_t)(tag >> 3);
    f->type = (int)(tag & 7);
    if (f->number == 0 || (tag >> 3) > 0x1fffffff) return FALLBACK;
    switch (f->type) {
    case WT_VARINT:
        f->payload = *pos;
        if (read_varint(d, end, pos, &f->value) != OK) return FALLBACK;
        break;
    case WT_I64:
        if (end - *pos < 8) return FALLBACK;
        f->payload = *pos;
        memcpy(&f->value, d + *pos, 8);
        *pos += 8;
        break;
    case WT_I32: {
        uint32_t v32;
        if (end - *pos < 4) return FALLBACK;
        f->payload = *pos;
        memcpy(&v32, d + *pos, 4);
        f->value = v32;
        *pos += 4;
        break;
    }
    case WT_LEN: {
        uint64_t len;
        if (read_varint(d, end, pos, &len) != OK) return FALLBACK;
        if (len > (uint64_t)(end - *pos)) return FALLBACK;
        f->payload = *pos;
        *pos += (Py_ssize_t)len;
        break;
    }
    default:
        return FALLBACK;
    }
    f->end = *pos;
    return OK;
}

/* ---- wire writing ------------------------------------------------------------------------------------- */

static inline Py_ssize_t varint_size(uint64_t v) {
    Py_ssize_t n = 1;
    for (; v >= 0x80; v >>= 7) n++;
    return n;
}

/* v as a varint at out; returns how many bytes it took. */
static inline Py_ssize_t put_varint(uint8_t *out, uint64_t v) {
    Py_ssize_t n = 0;
    for (; v >= 0x80; v >>= 7) out[n++] = (uint8_t)(v | 0x80);
    out[n++] = (uint8_t)v;
    return n;
}

/* A tuple of n sizes: Py_BuildValue("(nn..)") without parsing a format string at every call (rows are built
 * per value and per span). */
static inline PyObject *sizes_tuple(Py_ssize_t n, const Py_ssize_t *values) {
    PyObject *tuple = PyTuple_New(n);
    if (tuple == NULL) return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyLong_FromSsize_t(values[i]);
        if (item == NULL) {
            Py_DECREF(tuple);
            return NULL;
        }
        PyTuple_SET_ITEM(tuple, i, item);
    }
    return tuple;
}
#define SIZES(...) \
    sizes_tuple((Py_ssize_t)(sizeof((Py_ssize_t[]){__VA_ARGS__}) / sizeof(Py_ssize_t)), (Py_ssize_t[]){__VA_ARGS__})

static inline int append_new(PyObject *list, PyObject *item) {
    if (item == NULL) return ERR;
    int rc = PyList_Append(list, item);
    Py_DECREF(item);
    return rc < 0 ? ERR : OK;
}

#endif
