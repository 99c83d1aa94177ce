/* Numeric CSV bytes straight into a preallocated float64 buffer, without the GIL.
 *
 * An optional accelerator for container/fastcsv.py; the pure-numpy path (numpy.loadtxt) is the
 * reference and the fallback. This parser accepts a strict subset of what numpy.loadtxt accepts
 * (ASCII numbers as Python's float() spells them, optionally surrounded by spaces or tabs or
 * wrapped in double quotes, empty lines skipped, LF or CRLF line ends) and gives bit-identical
 * values on it: both round correctly. Anything outside the subset stops the parse and reports
 * where, so the caller can ask numpy, which either accepts the input after all (a comment, a
 * Unicode space) or fails and the error is located.
 *
 * Numbers: Clinger's fast path (a mantissa of at most 2^53 and |exponent| <= 22 make one exact
 * IEEE multiply or divide, which is correctly rounded), then the Eisel-Lemire algorithm (up to
 * 19 significant digits: one 64x128-bit multiply against a table of powers of ten, which either
 * gives the correctly rounded double or says it cannot tell), and for what is left (subnormals,
 * halfway cases, > 19 digits that truncation cannot settle) the C library's strtod in the "C"
 * locale (glibc's is correctly rounded for every input).
 */

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GLIBC__) || defined(__APPLE__)
#include <locale.h>
#if defined(__APPLE__)
#include <xlocale.h>
#endif
#define HAVE_STRTOD_L 1
static locale_t c_locale = (locale_t)0;
#endif

/* The exact fast path needs double arithmetic in double precision (SSE2, AArch64), never x87. */
#if defined(FLT_EVAL_METHOD) && FLT_EVAL_METHOD == 0
#define FAST_PATH 1
#else
#define FAST_PATH 0
#endif

#if defined(__SIZEOF_INT128__)
#define EISEL_LEMIRE 1
#include "_csvparse_pow10.h"
#else
#define EISEL_LEMIRE 0
#endif

enum { PARSE_OK = 0, ERR_VALUE = 1, ERR_COLUMNS = 2, ERR_FULL = 3 };

static const double POW10[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

static inline int is_space(char c) { return c == ' ' || c == '\t' || c == '\v' || c == '\f'; }
static inline int is_digit(char c) { return (unsigned char)(c - '0') < 10; }

static inline int ends_field(const char *p, const char *end) {
    return p == end || *p == ',' || *p == '\n' || (*p == '\r' && (p + 1 == end || p[1] == '\n'));
}

static int match_word(const char *p, const char *end, const char *word, size_t n) {
    if ((size_t)(end - p) < n) return 0;
    for (size_t i = 0; i < n; i++) {
        if ((p[i] | 0x20) != word[i]) return 0;
    }
    return 1;
}

#if EISEL_LEMIRE
/* mantissa * 10^exponent, correctly rounded, for 0 < mantissa < 2^64; 0 when it cannot tell.
 * A port of Go's strconv.eiselLemire64 (itself from Wuffs and fast_float). */
static int eisel_lemire(uint64_t mantissa, int64_t exponent, int negative, double *out) {
    if (exponent < POW10_MIN_EXP || exponent > POW10_MAX_EXP) return 0;
    int clz = __builtin_clzll(mantissa);
    mantissa <<= clz;
    uint64_t exp2 = (uint64_t)(((217706 * exponent) >> 16) + 64 + 1023) - (uint64_t)clz;
    const uint64_t *power = POW10_128[exponent - POW10_MIN_EXP];
    unsigned __int128 x = (unsigned __int128)mantissa * power[0];
    uint64_t x_hi = (uint64_t)(x >> 64), x_lo = (uint64_t)x;
    if ((x_hi & 0x1FF) == 0x1FF && x_lo + mantissa < mantissa) {
        unsigned __int128 y = (unsigned __int128)mantissa * power[1];
        uint64_t y_hi = (uint64_t)(y >> 64), y_lo = (uint64_t)y;
        uint64_t merged_hi = x_hi, merged_lo = x_lo + y_hi;
        if (merged_lo < x_lo) merged_hi++;
        if ((merged_hi & 0x1FF) == 0x1FF && merged_lo + 1 == 0 && y_lo + mantissa < mantissa) return 0;
        x_hi = merged_hi;
        x_lo = merged_lo;
    }
    uint64_t msb = x_hi >> 63;
    uint64_t bits = x_hi >> (msb + 9);
    exp2 -= 1 ^ msb;
    if (x_lo == 0 && (x_hi & 0x1FF) == 0 && (bits & 3) == 1) return 0; /* halfway: ambiguous */
    bits += bits & 1;
    bits >>= 1;
    if (bits >> 53) {
        bits >>= 1;
        exp2 += 1;
    }
    if (exp2 - 1 >= 0x7FF - 1) return 0; /* subnormal, or overflow: leave it to strtod */
    uint64_t word = exp2 << 52 | (bits & 0x000FFFFFFFFFFFFFull);
    if (negative) word |= 0x8000000000000000ull;
    memcpy(out, &word, sizeof word);
    return 1;
}
#endif

static double slow_strtod(const char *start, const char *stop, int *ok) {
    char local[128];
    size_t n = (size_t)(stop - start);
    char *text = n < sizeof local ? local : (char *)malloc(n + 1);
    if (text == NULL) {
        *ok = 0;
        return 0.0;
    }
    memcpy(text, start, n);
    text[n] = '\0';
    char *after = NULL;
#ifdef HAVE_STRTOD_L
    double value = strtod_l(text, &after, c_locale);
#else
    double value = strtod(text, &after);
#endif
    *ok = after == text + n;
    if (text != local) free(text);
    return value;
}

/* Which routine decided a number (reported by parse_number_path, for the tests and the fuzzer). */
enum { PATH_EXACT = 0, PATH_EISEL_LEMIRE = 1, PATH_STRTOD = 2, PATH_WORD = 3 };

/* One number, as Python's float() spells it in ASCII; NULL when p does not start with one.
 * *path says which routine gave the value. */
static const char *parse_number(const char *p, const char *end, double *out, int *path) {
    const char *start = p;
    int negative = 0;
    if (p < end && (*p == '+' || *p == '-')) {
        negative = *p == '-';
        p++;
    }
    const char *after_sign = p;
    /* The first 19 significant digits (they fit in 64 bits); exponent scales them, so that
     * the number is mantissa * 10^exponent exactly when exact, and just above it otherwise. */
    uint64_t mantissa = 0;
    int significant = 0, exact = 1;
    int64_t digits = 0;
    int64_t exponent = 0;
    int saturated = 0; /* the written exponent was too long to hold: only strtod may decide */
    while (p < end && is_digit(*p)) {
        unsigned d = (unsigned)(*p - '0');
        if (significant < 19) {
            mantissa = mantissa * 10 + d;
            significant += mantissa != 0;
        } else {
            exponent++;
            exact &= d == 0;
        }
        digits++;
        p++;
    }
    if (p < end && *p == '.') {
        p++;
        while (p < end && is_digit(*p)) {
            unsigned d = (unsigned)(*p - '0');
            if (significant < 19) {
                mantissa = mantissa * 10 + d;
                significant += mantissa != 0;
                exponent--;
            } else {
                exact &= d == 0;
            }
            digits++;
            p++;
        }
    }
    if (digits == 0) {
        if (p != after_sign) return NULL; /* ".", "-.": a point without digits */
        /* Only a sign so far (or nothing): inf, infinity or nan, in any case. */
        if (match_word(p, end, "infinity", 8)) {
            p += 8;
            *out = negative ? -HUGE_VAL : HUGE_VAL;
        } else if (match_word(p, end, "inf", 3)) {
            p += 3;
            *out = negative ? -HUGE_VAL : HUGE_VAL;
        } else if (match_word(p, end, "nan", 3)) {
            p += 3;
            *out = copysign(NAN, negative ? -1.0 : 1.0);
        } else {
            return NULL;
        }
        *path = PATH_WORD;
        return p;
    }
    if (p < end && (*p | 0x20) == 'e') {
        const char *q = p + 1;
        int exp_negative = 0;
        if (q < end && (*q == '+' || *q == '-')) {
            exp_negative = *q == '-';
            q++;
        }
        if (q == end || !is_digit(*q)) return NULL; /* "1e", "1e+": not a number */
        int64_t written = 0;
        while (q < end && is_digit(*q)) {
            /* Past 10^9 the written exponent is no longer held exactly: the sum below would
             * then be wrong, and a fast path could take it for an exponent in range (a
             * thousand million digits before it would make it so). strtod reads the text. */
            if (written < 100000000) {
                written = written * 10 + (*q - '0');
            } else {
                saturated = 1;
            }
            q++;
        }
        exponent += exp_negative ? -written : written;
        p = q;
    }
    if (saturated) {
        int ok = 1;
        *out = slow_strtod(start, p, &ok);
        *path = PATH_STRTOD;
        return ok ? p : NULL;
    }
    if (FAST_PATH && exact) {
        if (mantissa == 0) {
            *out = negative ? -0.0 : 0.0;
            *path = PATH_EXACT;
            return p;
        }
        if (mantissa <= ((uint64_t)1 << 53) && exponent >= -22 && exponent <= 22) {
            double value = (double)mantissa;
            value = exponent < 0 ? value / POW10[-exponent] : value * POW10[exponent];
            *out = negative ? -value : value;
            *path = PATH_EXACT;
            return p;
        }
    }
#if EISEL_LEMIRE
    if (mantissa != 0) {
        double low, high;
        if (eisel_lemire(mantissa, exponent, negative, &low)) {
            /* Digits were dropped: the value lies in (m, m+1) * 10^e; both ends round alike? */
            if (exact || (eisel_lemire(mantissa + 1, exponent, negative, &high) && low == high)) {
                *out = low;
                *path = PATH_EISEL_LEMIRE;
                return p;
            }
        }
    }
#endif
    int ok = 1;
    *out = slow_strtod(start, p, &ok);
    *path = PATH_STRTOD;
    return ok ? p : NULL;
}

/* One field, quoted or not; returns the position of its terminator, or NULL. */
static inline const char *parse_field(const char *p, const char *end, double *out) {
    int path;
    if (p < end && *p == '"') {
        p++;
        while (p < end && is_space(*p)) p++;
        p = parse_number(p, end, out, &path);
        if (p == NULL) return NULL;
        while (p < end && is_space(*p)) p++;
        if (p == end || *p != '"') return NULL;
        p++;
    } else {
        while (p < end && is_space(*p)) p++;
        p = parse_number(p, end, out, &path);
        if (p == NULL) return NULL;
    }
    while (p < end && is_space(*p)) p++;
    return ends_field(p, end) ? p : NULL;
}

typedef struct {
    Py_ssize_t rows;
    int kind;
    Py_ssize_t line; /* offset of the start of the bad line */
    Py_ssize_t field; /* 0-based field index at fault */
} outcome;

static outcome parse_lines(const char *data, Py_ssize_t start, Py_ssize_t stop, double *out,
                           Py_ssize_t capacity, Py_ssize_t ncols) {
    outcome result = {0, PARSE_OK, -1, -1};
    const char *p = data + start, *end = data + stop;
    while (p < end) {
        const char *line = p;
        if (*p == '\n') {
            p++;
            continue;
        }
        if (*p == '\r' && (p + 1 == end || p[1] == '\n')) {
            p += p + 1 == end ? 1 : 2;
            continue;
        }
        if (result.rows >= capacity) {
            result.kind = ERR_FULL;
            result.line = line - data;
            return result;
        }
        double *row = out + result.rows * ncols;
        for (Py_ssize_t f = 0; f < ncols; f++) {
            p = parse_field(p, end, row + f);
            if (p == NULL) {
                result.kind = ERR_VALUE;
                result.line = line - data;
                result.field = f;
                return result;
            }
            if (f + 1 < ncols) {
                if (p == end || *p != ',') {
                    result.kind = ERR_COLUMNS;
                    result.line = line - data;
                    result.field = f + 1;
                    return result;
                }
                p++;
            }
        }
        if (p < end) {
            if (*p == ',') {
                result.kind = ERR_COLUMNS;
                result.line = line - data;
                result.field = ncols;
                return result;
            }
            p += (*p == '\r' && p + 1 < end) ? 2 : 1; /* "\n", "\r\n", or "\r" at the very end */
        }
        result.rows++;
    }
    return result;
}

PyDoc_STRVAR(parse_into_doc,
"parse_into(data, start, stop, out, row, ncols) -> (rows, kind, line_offset, field)\n\n"
"Parse data[start:stop] (whole lines) into `out`, a writable C-contiguous float64 array of\n"
"shape (rows, ncols), from row `row` on, with the GIL released; nothing is written outside\n"
"out[row:]. kind is 0 when every line parsed; else 1 (a value), 2 (the column count) or 3\n"
"(out is full), line_offset is the offset in data of the line at fault and field its 0-based\n"
"field, and rows counts the lines parsed before it.");

/* Native-endian IEEE double, as the buffer protocol spells it ("d", "@d", "=d", "<d" or ">d"). */
static int is_native_double(const char *format) {
    if (format == NULL) return 0; /* PyBUF_FORMAT was asked for: NULL would mean unsigned bytes */
    if (format[0] == '@' || format[0] == '=') format++;
#if PY_LITTLE_ENDIAN
    else if (format[0] == '<') format++;
#else
    else if (format[0] == '>') format++;
#endif
    return format[0] == 'd' && format[1] == '\0';
}

/* The output buffer, checked before the C code writes a byte into it: what arrives is any
 * object with the buffer protocol, and a wrong dtype, a view with strides, a read-only array
 * or a shape that does not match ncols would otherwise be written over as if it were a
 * (rows, ncols) float64 array. */
static int get_output(PyObject *obj, Py_buffer *out, Py_ssize_t ncols) {
    if (PyObject_GetBuffer(obj, out, PyBUF_RECORDS_RO) < 0) {
        PyErr_Clear();
        PyErr_SetString(PyExc_ValueError, "parse_into: out must be a C-contiguous float64 array");
        return -1;
    }
    const char *problem = NULL;
    if (out->readonly) {
        problem = "parse_into: out is read-only";
    } else if (out->itemsize != (Py_ssize_t)sizeof(double) || !is_native_double(out->format)) {
        problem = "parse_into: out must hold native float64 values";
    } else if (!PyBuffer_IsContiguous(out, 'C')) {
        problem = "parse_into: out must be C-contiguous";
    } else if (out->ndim != 2 || out->shape == NULL || out->shape[1] != ncols) {
        problem = "parse_into: out must have shape (rows, ncols)";
    } else if (out->len != out->shape[0] * ncols * (Py_ssize_t)sizeof(double)) {
        problem = "parse_into: out's size does not match its shape";
    }
    if (problem != NULL) {
        PyBuffer_Release(out);
        PyErr_SetString(PyExc_ValueError, problem);
        return -1;
    }
    return 0;
}

static PyObject *parse_into(PyObject *self, PyObject *args) {
    Py_buffer data, out;
    PyObject *out_obj;
    Py_ssize_t start, stop, row, ncols;
    if (!PyArg_ParseTuple(args, "y*nnOnn", &data, &start, &stop, &out_obj, &row, &ncols)) return NULL;
    if (start < 0 || stop > data.len || start > stop || ncols < 1 || row < 0) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "parse_into: bad range, row or ncols");
        return NULL;
    }
    if (get_output(out_obj, &out, ncols) < 0) {
        PyBuffer_Release(&data);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t total_rows = out.shape[0];
    if (row > total_rows) {
        PyErr_SetString(PyExc_ValueError, "parse_into: row is past the end of out");
        goto done;
    }
    outcome r;
    Py_BEGIN_ALLOW_THREADS
    r = parse_lines((const char *)data.buf, start, stop, (double *)out.buf + row * ncols,
                    total_rows - row, ncols);
    Py_END_ALLOW_THREADS
    result = Py_BuildValue("(ninn)", r.rows, r.kind, r.line, r.field);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&out);
    return result;
}

PyDoc_STRVAR(parse_number_path_doc,
"parse_number_path(text) -> (value, path) or None\n\n"
"The parser's number routine on one number (no spaces, quotes or separators): its value and\n"
"which routine decided it, 0 exact (Clinger's fast path), 1 Eisel-Lemire, 2 strtod, 3 a word\n"
"(inf, nan); None when the routine does not read the whole text as a number. For the tests\n"
"and the fuzzer, which check each path against float().");

static PyObject *parse_number_path(PyObject *self, PyObject *args) {
    Py_buffer text;
    if (!PyArg_ParseTuple(args, "y*", &text)) return NULL;
    const char *begin = (const char *)text.buf, *end = begin + text.len;
    double value = 0.0;
    int path = -1;
    const char *after = parse_number(begin, end, &value, &path);
    PyBuffer_Release(&text);
    if (after != end) Py_RETURN_NONE;
    return Py_BuildValue("(di)", value, path);
}

PyDoc_STRVAR(count_newlines_doc,
"count_newlines(data, start, stop) -> int\n\n"
"The number of b'\\n' in data[start:stop], found with memchr and the GIL released\n"
"(bytes.count looks at one byte at a time).");

static PyObject *count_newlines(PyObject *self, PyObject *args) {
    Py_buffer data;
    Py_ssize_t start, stop, count = 0;
    if (!PyArg_ParseTuple(args, "y*nn", &data, &start, &stop)) return NULL;
    if (start < 0 || stop > data.len || start > stop) {
        PyBuffer_Release(&data);
        PyErr_SetString(PyExc_ValueError, "count_newlines: bad range");
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    const char *p = (const char *)data.buf + start, *end = (const char *)data.buf + stop;
    while (p < end && (p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        count++;
        p++;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    return PyLong_FromSsize_t(count);
}

static PyMethodDef methods[] = {
    {"parse_into", parse_into, METH_VARARGS, parse_into_doc},
    {"parse_number_path", parse_number_path, METH_VARARGS, parse_number_path_doc},
    {"count_newlines", count_newlines, METH_VARARGS, count_newlines_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_csvparse",
    "Numeric CSV into float64 buffers without the GIL (see container/fastcsv.py).", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__csvparse(void) {
#ifdef HAVE_STRTOD_L
    if (c_locale == (locale_t)0) {
        c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
        if (c_locale == (locale_t)0) {
            PyErr_SetString(PyExc_OSError, "_csvparse: cannot create the C locale");
            return NULL;
        }
    }
#endif
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddIntConstant(m, "FAST_PATH", FAST_PATH) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
