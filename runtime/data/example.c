/* example.c: tf.train.Example in protobuf wire format (spec/datasets.md §3.3).
 *
 * Example { Features features = 1 }, Features { map<string, Feature> = 1 }
 * (map entries { key = 1; value = 2 }), Feature { oneof: BytesList = 1,
 * FloatList = 2, Int64List = 3 }, each list's values in field 1.
 *
 * Encoding writes entries in insertion order, numeric lists packed, exactly
 * as TensorFlow's writers do. Decoding follows the protobuf rules a
 * conformant parser must: unknown fields are skipped by wire type, groups
 * are rejected, packed and unpacked list elements are both accepted (even
 * mixed), a repeated map key keeps its last entry, a repeated Features or
 * list message merges, a oneof keeps its last kind, and every length is
 * bounds-checked against its enclosing message. The decoder is zero-copy:
 * a view holds pointers into the record buffer and lists are decoded on
 * demand. */
#include "formats.h"
#include "base.h"

#include <stdlib.h>
#include <string.h>

/* ---- encoding ---- */

typedef Vec(uint8_t) Bytes;

typedef struct ExFeature {
    char *key;
    TfexKind kind;
    Bytes payload;   /* packed values, or the BytesList fields themselves */
} ExFeature;

struct TfExample {
    Vec(ExFeature) features;
};

static void put_bytes(Bytes *b, const void *p, size_t n)
{
    if ((size_t)(b->len + n) > (size_t)b->cap) {
        b->cap = (int)MAX((size_t)b->len + n, 2 * (size_t)b->cap + 64);
        b->data = xrealloc(b->data, (size_t)b->cap);
    }
    memcpy(b->data + b->len, p, n);
    b->len += (int)n;
}

static void put_varint(Bytes *b, uint64_t v)
{
    uint8_t tmp[10];
    int n = 0;
    do {
        tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    put_bytes(b, tmp, (size_t)n);
}

static size_t varint_len(uint64_t v)
{
    size_t n = 1;
    while (v > 0x7f) v >>= 7, n++;
    return n;
}

TfExample *tfex_new(void) { return xcalloc(1, sizeof(TfExample)); }

static ExFeature *feature_for(TfExample *e, const char *key, TfexKind kind)
{
    for (int i = 0; i < e->features.len; i++)
        if (e->features.data[i].kind == kind && !strcmp(e->features.data[i].key, key)) return &e->features.data[i];
    ExFeature f = {xstrdup(key), kind, {0}};
    vec_push(&e->features, f);
    return &e->features.data[e->features.len - 1];
}

void tfex_add_bytes(TfExample *e, const char *key, const void *bytes, size_t len)
{
    ExFeature *f = feature_for(e, key, TFEX_BYTES);
    put_varint(&f->payload, 0x0a);
    put_varint(&f->payload, len);
    put_bytes(&f->payload, bytes, len);
}

void tfex_add_floats(TfExample *e, const char *key, const float *v, size_t n)
{
    ExFeature *f = feature_for(e, key, TFEX_FLOATS);
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, &v[i], 4);
        uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
        put_bytes(&f->payload, le, 4);
    }
}

void tfex_add_int64s(TfExample *e, const char *key, const int64_t *v, size_t n)
{
    ExFeature *f = feature_for(e, key, TFEX_INT64S);
    for (size_t i = 0; i < n; i++) put_varint(&f->payload, (uint64_t)v[i]);
}

/* Length of the list message inside the Feature (BytesList, FloatList...). */
static size_t list_len(const ExFeature *f)
{
    size_t n = (size_t)f->payload.len;
    if (f->kind == TFEX_BYTES || n == 0) return n;
    return 1 + varint_len(n) + n;    /* one packed field 1 */
}

static size_t feature_len(const ExFeature *f) { return 1 + varint_len(list_len(f)) + list_len(f); }

static size_t entry_len(const ExFeature *f)
{
    size_t k = strlen(f->key), v = feature_len(f);
    return 1 + varint_len(k) + k + 1 + varint_len(v) + v;
}

static void put_entry(Bytes *b, const ExFeature *f)
{
    size_t k = strlen(f->key), n = (size_t)f->payload.len;
    put_varint(b, 0x0a);
    put_varint(b, entry_len(f));
    put_varint(b, 0x0a);
    put_varint(b, k);
    put_bytes(b, f->key, k);
    put_varint(b, 0x12);
    put_varint(b, feature_len(f));
    put_varint(b, f->kind == TFEX_BYTES ? 0x0a : f->kind == TFEX_FLOATS ? 0x12 : 0x1a);
    put_varint(b, list_len(f));
    if (f->kind != TFEX_BYTES && n > 0) {
        put_varint(b, 0x0a);
        put_varint(b, n);
    }
    put_bytes(b, f->payload.data, n);
}

uint8_t *tfex_serialize(const TfExample *e, size_t *len)
{
    size_t features = 0;
    for (int i = 0; i < e->features.len; i++) {
        size_t n = entry_len(&e->features.data[i]);
        features += 1 + varint_len(n) + n;
    }
    Bytes b = {0};
    put_varint(&b, 0x0a);
    put_varint(&b, features);
    for (int i = 0; i < e->features.len; i++) put_entry(&b, &e->features.data[i]);
    *len = (size_t)b.len;
    return b.data;
}

void tfex_free(TfExample *e)
{
    if (!e) return;
    for (int i = 0; i < e->features.len; i++) {
        free(e->features.data[i].key);
        vec_free(&e->features.data[i].payload);
    }
    vec_free(&e->features);
    free(e);
}

/* ---- decoding ---- */

typedef struct Cursor {
    const uint8_t *p, *end;
} Cursor;

/* One field as read off the wire. */
typedef struct Field {
    uint32_t number;
    int wire;
    uint64_t value;          /* wire 0, 1, 5 */
    const uint8_t *data;     /* wire 2 */
    size_t len;
    const uint8_t *start;    /* where the field's tag begins */
} Field;

static int get_varint(Cursor *c, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (c->p >= c->end) return -1;
        uint8_t b = *c->p++;
        *v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return 0;
    }
    return -1;   /* more than 10 bytes */
}

static uint64_t get_fixed(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = v << 8 | p[i];
    return v;
}

/* 1: a field; 0: end of message; -1: malformed (message in *why). */
static int next_field(Cursor *c, Field *f, const char **why)
{
    if (c->p == c->end) return 0;
    uint64_t tag;
    f->start = c->p;
    if (get_varint(c, &tag)) return *why = "bad varint", -1;
    f->number = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    size_t left;
    switch (f->wire) {
    case 0: return get_varint(c, &f->value) ? (*why = "bad varint", -1) : 1;
    case 1:
    case 5:
        left = (size_t)(c->end - c->p);
        if (left < (f->wire == 1 ? 8u : 4u)) return *why = "fixed-width value past the end", -1;
        f->value = get_fixed(c->p, f->wire == 1 ? 8 : 4);
        c->p += f->wire == 1 ? 8 : 4;
        return 1;
    case 2:
        if (get_varint(c, &f->value)) return *why = "bad length varint", -1;
        if (f->value > (uint64_t)(c->end - c->p)) return *why = "length runs past the enclosing message", -1;
        f->data = c->p;
        f->len = (size_t)f->value;
        c->p += f->len;
        return 1;
    default: return *why = "group or invalid wire type", -1;
    }
}

static void view_put(TfexView *v, TfexFeature nf)
{
    for (int i = 0; i < v->n; i++) {
        TfexFeature *f = &v->features[i];
        if (f->key_len == nf.key_len && !memcmp(f->key, nf.key, nf.key_len)) {
            *f = nf;   /* a repeated map key: the last entry wins */
            return;
        }
    }
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->features = xrealloc(v->features, (size_t)v->cap * sizeof *v->features);
    }
    v->features[v->n++] = nf;
}

/* Finds the Feature's final oneof kind and where its last run of fields
 * starts: fields of one message field number merge, a different kind resets. */
static int parse_feature(const uint8_t *p, size_t len, TfexFeature *out, const char **why)
{
    Cursor c = {p, p + len};
    Field f;
    int rc;
    out->kind = TFEX_EMPTY;
    out->list = p + len;
    while ((rc = next_field(&c, &f, why)) == 1) {
        if (f.number < 1 || f.number > 3) continue;
        if (f.wire != 2) return *why = "a Feature list is not length-delimited", -1;
        TfexKind kind = f.number == 1 ? TFEX_BYTES : f.number == 2 ? TFEX_FLOATS : TFEX_INT64S;
        if (kind != out->kind) out->list = f.start;
        out->kind = kind;
    }
    out->list_len = (size_t)(p + len - out->list);
    return rc;
}

static int parse_entry(const uint8_t *p, size_t len, TfexView *v, const char **why)
{
    Cursor c = {p, p + len};
    Field f;
    TfexFeature nf = {"", 0, TFEX_EMPTY, p, 0};
    const uint8_t *value = NULL;
    size_t value_len = 0;
    int rc;
    while ((rc = next_field(&c, &f, why)) == 1) {
        if ((f.number == 1 || f.number == 2) && f.wire != 2) return *why = "a map entry field has the wrong wire type", -1;
        if (f.number == 1) nf.key = (const char *)f.data, nf.key_len = f.len;
        if (f.number == 2) value = f.data, value_len = f.len;
    }
    if (rc < 0) return -1;
    if (value && parse_feature(value, value_len, &nf, why)) return -1;
    view_put(v, nf);
    return 0;
}

static int parse_message(const uint8_t *p, size_t len, TfexView *v, int depth, const char **why)
{
    Cursor c = {p, p + len};
    Field f;
    int rc;
    while ((rc = next_field(&c, &f, why)) == 1) {
        if (f.number != 1) continue;
        if (f.wire != 2) return *why = depth ? "a Features entry is not length-delimited" : "Example.features is not length-delimited", -1;
        rc = depth ? parse_entry(f.data, f.len, v, why) : parse_message(f.data, f.len, v, 1, why);
        if (rc) return -1;
    }
    return rc;
}

int tfex_parse(const uint8_t *buf, size_t len, TfexView *v, char *err, size_t errlen)
{
    const char *why = NULL;
    v->n = 0;
    if (parse_message(buf, len, v, 0, &why)) return errf(err, errlen, "malformed tf.train.Example: %s", why);
    return 0;
}

void tfex_view_free(TfexView *v)
{
    free(v->features);
    v->features = NULL;
    v->n = v->cap = 0;
}

const TfexFeature *tfex_find(const TfexView *v, const char *key)
{
    size_t n = strlen(key);
    for (int i = 0; i < v->n; i++)
        if (v->features[i].key_len == n && !memcmp(v->features[i].key, key, n)) return &v->features[i];
    return NULL;
}

/* Walks every element of the list in order; `each` gets (wire, value, data,
 * len) per element and returns nonzero to stop. Returns -1 if malformed. */
typedef int (*ElementFn)(void *ctx, int wire, uint64_t value, const uint8_t *data, size_t len);

static int walk_list_message(const TfexFeature *f, const Field *lf, ElementFn each, void *ctx)
{
    Cursor c = {lf->data, lf->data + lf->len};
    Field e;
    const char *why;
    int rc;
    while ((rc = next_field(&c, &e, &why)) == 1) {
        if (e.number != 1) continue;
        if (f->kind == TFEX_BYTES && e.wire != 2) return -1;
        if (f->kind == TFEX_FLOATS && e.wire != 5 && e.wire != 2) return -1;
        if (f->kind == TFEX_INT64S && e.wire != 0 && e.wire != 2) return -1;
        rc = each(ctx, e.wire, e.value, e.data, e.len);
        if (rc) return rc;
    }
    return rc;
}

static int walk_list(const TfexFeature *f, ElementFn each, void *ctx)
{
    uint32_t number = f->kind == TFEX_BYTES ? 1 : f->kind == TFEX_FLOATS ? 2 : 3;
    Cursor c = {f->list, f->list + f->list_len};
    Field lf;
    const char *why;
    int rc;
    while ((rc = next_field(&c, &lf, &why)) == 1) {
        if (lf.number != number) continue;
        rc = walk_list_message(f, &lf, each, ctx);
        if (rc) return rc;
    }
    return rc;
}

/* Decoding state shared by the element callbacks. */
typedef struct Decode {
    TfexKind kind;
    void *out;            /* int64_t* or float*, or NULL to only count */
    size_t max, n;
    int64_t want;         /* for tfex_bytes_at: the index sought */
    const uint8_t *bytes;
    size_t bytes_len;
} Decode;

static void store(Decode *d, uint64_t raw)
{
    if (d->out && d->n < d->max) {
        if (d->kind == TFEX_INT64S) {
            ((int64_t *)d->out)[d->n] = (int64_t)raw;
        } else {
            uint32_t u = (uint32_t)raw;
            memcpy((float *)d->out + d->n, &u, 4);
        }
    }
    d->n++;
}

static int decode_element(void *ctx, int wire, uint64_t value, const uint8_t *data, size_t len)
{
    Decode *d = ctx;
    if (d->kind == TFEX_BYTES) {
        if ((int64_t)d->n == d->want) d->bytes = data, d->bytes_len = len;
        d->n++;
        return 0;
    }
    if (wire != 2) {
        store(d, value);
        return 0;
    }
    Cursor c = {data, data + len};
    if (d->kind == TFEX_FLOATS) {
        if (len % 4) return -1;
        for (size_t i = 0; i < len; i += 4) store(d, get_fixed(data + i, 4));
        return 0;
    }
    while (c.p < c.end) {
        uint64_t v;
        if (get_varint(&c, &v)) return -1;
        store(d, v);
    }
    return 0;
}

int64_t tfex_count(const TfexFeature *f)
{
    if (f->kind == TFEX_EMPTY) return 0;
    Decode d = {f->kind, NULL, 0, 0, -1, NULL, 0};
    return walk_list(f, decode_element, &d) < 0 ? -1 : (int64_t)d.n;
}

int tfex_bytes_at(const TfexFeature *f, int64_t i, const uint8_t **p, size_t *len)
{
    if (f->kind != TFEX_BYTES) return -1;
    Decode d = {f->kind, NULL, 0, 0, i, NULL, 0};
    if (walk_list(f, decode_element, &d) < 0 || !d.bytes) return -1;
    *p = d.bytes;
    *len = d.bytes_len;
    return 0;
}

static int decode_numbers(const TfexFeature *f, TfexKind kind, void *out, size_t max, size_t *n)
{
    *n = 0;
    if (f->kind == TFEX_EMPTY) return 0;   /* an empty Feature is an empty list of any kind */
    if (f->kind != kind) return -1;
    Decode d = {kind, out, max, 0, -1, NULL, 0};
    if (walk_list(f, decode_element, &d) < 0) return -1;
    *n = MIN(d.n, max);
    return 0;
}

int tfex_int64s(const TfexFeature *f, int64_t *out, size_t max, size_t *n)
{
    return decode_numbers(f, TFEX_INT64S, out, max, n);
}

int tfex_floats(const TfexFeature *f, float *out, size_t max, size_t *n)
{
    return decode_numbers(f, TFEX_FLOATS, out, max, n);
}
