/* npy.c: NumPy .npy arrays (spec/datasets.md §3.4).
 *
 * A file is the magic "\x93NUMPY", a version (1.0, 2.0 or 3.0), the header
 * length (u16 for 1.0, u32 after), a Python dict literal with 'descr',
 * 'fortran_order' and 'shape', padded with spaces and a newline so the data
 * starts on a 64-byte boundary, then the raw C-order data. The reader takes
 * any of the three versions and little-endian or byte-sized numeric dtypes;
 * Fortran order, big-endian and structured dtypes are refused with a message.
 * The data must be exactly prod(shape) * itemsize bytes long. The writer
 * produces version 1.0 headers byte-identical to modern NumPy's (including
 * the spare space NumPy leaves to let the first axis grow). */
#include "formats.h"
#include "base.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

size_t npy_itemsize(const char *dtype)
{
    static const char *kinds = "uifbc";
    if (strlen(dtype) < 3 || !strchr("<|=", dtype[0]) || !strchr(kinds, dtype[1])) return 0;
    char *end;
    long n = strtol(dtype + 2, &end, 10);
    if (*end || !(n == 1 || n == 2 || n == 4 || n == 8)) return 0;
    if (dtype[1] == 'b' && n != 1) return 0;
    if (dtype[1] == 'f' && n == 1) return 0;
    if (dtype[1] == 'c' && n != 8) return 0;   /* complex64 */
    return (size_t)n;
}

/* ---- header dict ---- */

static const char *skip_space(const char *p) { while (*p == ' ' || *p == '\t' || *p == '\n') p++; return p; }

/* Finds `'key':` (single or double quotes) and returns what follows. */
static const char *dict_value(const char *h, const char *key)
{
    size_t n = strlen(key);
    for (const char *p = h; (p = strstr(p, key)); p++) {
        if (p == h || (p[-1] != '\'' && p[-1] != '"') || p[n] != p[-1]) continue;
        const char *q = skip_space(p + n + 1);
        if (*q == ':') return skip_space(q + 1);
    }
    return NULL;
}

static int parse_descr(const char *v, char dtype[8])
{
    if (!v || (*v != '\'' && *v != '"')) return -1;
    const char *end = strchr(v + 1, *v);
    if (!end || end - v - 1 >= 8) return -1;
    memcpy(dtype, v + 1, (size_t)(end - v - 1));
    dtype[end - v - 1] = 0;
    return 0;
}

static int parse_shape(const char *v, NpyArray *a)
{
    if (!v || *v != '(') return -1;
    v = skip_space(v + 1);
    a->ndim = 0;
    while (*v != ')') {
        if (!isdigit((unsigned char)*v) || a->ndim == 8) return -1;
        char *end;
        a->shape[a->ndim++] = strtoll(v, &end, 10);
        v = skip_space(end);
        if (*v == ',') v = skip_space(v + 1);
        else if (*v != ')') return -1;
    }
    return 0;
}

static int parse_header(const char *path, const char *h, NpyArray *a, char *err, size_t errlen)
{
    const char *fo = dict_value(h, "fortran_order");
    if (parse_descr(dict_value(h, "descr"), a->dtype) || !fo || parse_shape(dict_value(h, "shape"), a))
        return errf(err, errlen, "%s: malformed .npy header (expected 'descr', 'fortran_order' and 'shape')", path);
    if (!strncmp(fo, "True", 4))
        return errf(err, errlen, "%s: Fortran-order arrays are not supported (expected C order)", path);
    if (!npy_itemsize(a->dtype))
        return errf(err, errlen, "%s: unsupported dtype '%s' (expected a little-endian integer, float or bool)",
                    path, a->dtype);
    size_t n = npy_itemsize(a->dtype);
    for (int i = 0; i < a->ndim; i++) {
        if (a->shape[i] < 0 || (a->shape[i] && n > SIZE_MAX / (size_t)a->shape[i]))
            return errf(err, errlen, "%s: implausible shape in the .npy header", path);
        n *= (size_t)a->shape[i];
    }
    a->nbytes = n;
    return 0;
}

/* Reads magic, version and header; leaves fp at the start of the data. */
static int read_header(FILE *fp, const char *path, NpyArray *a, char *err, size_t errlen)
{
    uint8_t pre[12];
    memset(a, 0, sizeof *a);
    if (fread(pre, 1, 10, fp) != 10 || memcmp(pre, "\x93NUMPY", 6))
        return errf(err, errlen, "%s: not a .npy file (bad magic)", path);
    int major = pre[6];
    if (major < 1 || major > 3) return errf(err, errlen, "%s: unsupported .npy version %d.%d", path, major, pre[7]);
    uint32_t hlen = pre[8] | pre[9] << 8;
    if (major >= 2) {
        if (fread(pre + 10, 1, 2, fp) != 2) return errf(err, errlen, "%s: truncated .npy header", path);
        hlen |= (uint32_t)pre[10] << 16 | (uint32_t)pre[11] << 24;
    }
    if (hlen > (1u << 24)) return errf(err, errlen, "%s: implausible .npy header length %u", path, hlen);
    char *h = xmalloc(hlen + 1);
    size_t got = fread(h, 1, hlen, fp);
    h[got] = 0;
    int rc = got != hlen ? errf(err, errlen, "%s: truncated .npy header", path) : parse_header(path, h, a, err, errlen);
    free(h);
    return rc;
}

int npy_read_header(const char *path, NpyArray *out, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    int rc = read_header(fp, path, out, err, errlen);
    fclose(fp);
    return rc;
}

int npy_read(const char *path, NpyArray *out, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    if (read_header(fp, path, out, err, errlen)) {
        fclose(fp);
        return -1;
    }
    out->data = xmalloc(out->nbytes);
    size_t got = fread(out->data, 1, out->nbytes, fp);
    int extra = fgetc(fp) != EOF;
    fclose(fp);
    if (got == out->nbytes && !extra) return 0;
    if (got < out->nbytes)
        errf(err, errlen, "%s: truncated (%zu of %zu data bytes)", path, got, out->nbytes);
    else
        errf(err, errlen, "%s: unexpected bytes after the %zu-byte array", path, out->nbytes);
    npy_free(out);
    return -1;
}

void npy_free(NpyArray *a)
{
    free(a->data);
    a->data = NULL;
    a->nbytes = 0;
}

/* ---- writing ---- */

/* The header NumPy writes: sorted keys, repr() of the shape tuple, spare
 * spaces for growing axis 0 (21 digits), padding to 64 bytes, newline. */
static char *format_header(const char *dtype, int ndim, const int64_t *shape, size_t *len)
{
    char tuple[8 * 24 + 4] = "(", *t = tuple + 1;
    for (int i = 0; i < ndim; i++) t += sprintf(t, i ? ", %lld" : "%lld", (long long)shape[i]);
    strcpy(t, ndim == 1 ? ",)" : ")");
    char *dict = xprintf("{'descr': '%s', 'fortran_order': False, 'shape': %s, }", dtype, tuple);
    size_t spare = 0;
    if (ndim > 0) {
        char first[24];
        spare = 21 - (size_t)sprintf(first, "%lld", (long long)shape[0]);
    }
    size_t body = strlen(dict) + spare + 1;              /* + newline */
    size_t pad = 64 - (10 + body) % 64;
    char *h = xmalloc(10 + body + pad + 1);
    memcpy(h, "\x93NUMPY\x01\x00", 8);
    h[8] = (char)((body + pad) & 0xff);
    h[9] = (char)((body + pad) >> 8);
    size_t n = 10 + (size_t)sprintf(h + 10, "%s", dict);
    memset(h + n, ' ', spare + pad);
    n += spare + pad;
    h[n++] = '\n';
    free(dict);
    *len = n;
    return h;
}

int npy_write(const char *path, const char *dtype, int ndim, const int64_t *shape, const void *data, char *err,
              size_t errlen)
{
    size_t n = npy_itemsize(dtype);
    if (!n || ndim < 0 || ndim > 8) return errf(err, errlen, "%s: cannot write dtype '%s' with %d dims", path, dtype, ndim);
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    size_t hlen;
    char *h = format_header(dtype, ndim, shape, &hlen);
    OutFile f;
    int rc = outfile_open(&f, path, err, errlen);
    if (rc == 0) {
        fwrite(h, 1, hlen, f.fp);
        fwrite(data, 1, n, f.fp);
        rc = outfile_commit(&f, err, errlen);
    }
    free(h);
    return rc;
}
