/* json.c: a small JSON reader and writer for the training layer.
 *
 * The reader parses RFC 8259 JSON into a JsonValue tree. It is strict on
 * purpose, because it reads files that decide what a run does (config.json)
 * and headers that decide where bytes are read from (safetensors): no
 * trailing commas, no comments, no NaN, no duplicate keys, valid UTF-8 only,
 * nesting at most JSON_MAX_DEPTH. Errors say where, as "line L, column C".
 * Integers written without fraction or exponent keep their exact int64 value
 * beside the double, since byte offsets can exceed 2^53.
 *
 * The writer appends to a growable buffer and inserts commas itself; with
 * indent 0 its output is byte-for-byte what serde_json's compact writer
 * produces for the same values, which the safetensors header relies on. */
#include "train.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "base.h"

/* ---- Reader ------------------------------------------------------------ */

typedef Vec(char) CharVec;
typedef Vec(JsonValue) ValueVec;
typedef Vec(char *) KeyVec;

typedef struct Parser {
    const char *s, *end;
    const char *line_start;
    int line;
    int depth;
    char *err;
    size_t errlen;
    bool failed;
} Parser;

static void fail(Parser *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(Parser *p, const char *fmt, ...)
{
    if (p->failed) return;
    p->failed = true;
    int n = snprintf(p->err, p->errlen, "line %d, column %d: ", p->line,
                     (int)(p->s - p->line_start) + 1);
    if (n < 0 || (size_t)n >= p->errlen) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
}

/* Where a key started, to point a duplicate-key error at its second use. */
typedef struct TextPos {
    int line, column;
} TextPos;

static TextPos position(const Parser *p) { return (TextPos){p->line, (int)(p->s - p->line_start) + 1}; }

static void fail_at(Parser *p, TextPos at, const char *what, const char *key)
{
    if (p->failed) return;
    p->failed = true;
    snprintf(p->err, p->errlen, "line %d, column %d: %s \"%s\" in object", at.line, at.column, what, key);
}

static void skip_space(Parser *p)
{
    for (; p->s < p->end; p->s++) {
        if (*p->s == '\n') {
            p->line++;
            p->line_start = p->s + 1;
        } else if (*p->s != ' ' && *p->s != '\t' && *p->s != '\r') {
            return;
        }
    }
}

static bool at_end(const Parser *p) { return p->s >= p->end; }

static bool eat_word(Parser *p, const char *word)
{
    size_t n = strlen(word);
    if ((size_t)(p->end - p->s) < n || memcmp(p->s, word, n) != 0) return false;
    p->s += n;
    return true;
}

/* Length of the UTF-8 sequence at s (1-4), or 0 if it is malformed:
 * overlong forms, surrogates and code points above U+10FFFF are rejected. */
static int utf8_length(const unsigned char *s, const unsigned char *end)
{
    unsigned c = s[0];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || end - s < n) return 0;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1f : n == 3 ? c & 0x0f : c & 0x07;
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = cp << 6 | (s[i] & 0x3f);
    }
    static const uint32_t min_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < min_cp[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return n;
}

static void put_utf8(CharVec *out, uint32_t cp)
{
    if (cp < 0x80) {
        vec_push(out, (char)cp);
    } else if (cp < 0x800) {
        vec_push(out, (char)(0xc0 | cp >> 6));
        vec_push(out, (char)(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
        vec_push(out, (char)(0xe0 | cp >> 12));
        vec_push(out, (char)(0x80 | (cp >> 6 & 0x3f)));
        vec_push(out, (char)(0x80 | (cp & 0x3f)));
    } else {
        vec_push(out, (char)(0xf0 | cp >> 18));
        vec_push(out, (char)(0x80 | (cp >> 12 & 0x3f)));
        vec_push(out, (char)(0x80 | (cp >> 6 & 0x3f)));
        vec_push(out, (char)(0x80 | (cp & 0x3f)));
    }
}

static int hex4(Parser *p)
{
    if (p->end - p->s < 4) return -1;
    int v = 0;
    for (int i = 0; i < 4; i++) {
        char c = p->s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) return -1;
        v = v * 16 + d;
    }
    p->s += 4;
    return v;
}

/* After "\u": one code point, joining a surrogate pair. */
static bool parse_unicode_escape(Parser *p, CharVec *out)
{
    int hi = hex4(p);
    if (hi < 0) return fail(p, "expected 4 hex digits after \\u"), false;
    uint32_t cp = (uint32_t)hi;
    if (hi >= 0xdc00 && hi <= 0xdfff) return fail(p, "unpaired surrogate \\u%04x", hi), false;
    if (hi >= 0xd800 && hi <= 0xdbff) {
        int lo = eat_word(p, "\\u") ? hex4(p) : -1;
        if (lo < 0xdc00 || lo > 0xdfff) return fail(p, "unpaired surrogate \\u%04x", hi), false;
        cp = 0x10000 + (((uint32_t)hi - 0xd800) << 10) + ((uint32_t)lo - 0xdc00);
    }
    if (cp == 0) return fail(p, "\\u0000 is not supported in strings"), false;
    put_utf8(out, cp);
    return true;
}

static bool parse_escape(Parser *p, CharVec *out)
{
    char c = *p->s++;
    const char *from = "\"\\/bfnrt", *to = "\"\\/\b\f\n\r\t";
    const char *k = strchr(from, c);
    if (c && k) {
        vec_push(out, to[k - from]);
        return true;
    }
    if (c == 'u') return parse_unicode_escape(p, out);
    p->s--;
    fail(p, "invalid escape '\\%c' in string", c);
    return false;
}

/* At the opening quote; returns the string (xmalloc'd) or NULL. */
static char *parse_string(Parser *p)
{
    CharVec out = {0};
    p->s++;
    while (!p->failed) {
        if (at_end(p)) {
            fail(p, "unterminated string");
            break;
        }
        unsigned char c = (unsigned char)*p->s;
        if (c == '"') {
            p->s++;
            vec_push(&out, 0);
            return out.data;
        }
        if (c < 0x20) {
            fail(p, "control character 0x%02x in string (escape it)", c);
        } else if (c == '\\') {
            p->s++;
            if (at_end(p)) fail(p, "unterminated string");
            else parse_escape(p, &out);
        } else {
            int n = utf8_length((const unsigned char *)p->s, (const unsigned char *)p->end);
            if (n == 0) fail(p, "invalid UTF-8 in string");
            for (int i = 0; i < n; i++) vec_push(&out, *p->s++);
        }
    }
    vec_free(&out);
    return NULL;
}

static const char *skip_digits(const char *s, const char *end)
{
    while (s < end && *s >= '0' && *s <= '9') s++;
    return s;
}

/* The grammar -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?, then strtod
 * (and strtoll when there is no fraction or exponent). */
static bool parse_number(Parser *p, JsonValue *v)
{
    const char *s = p->s, *end = p->end, *start = s;
    bool integral = true;
    if (s < end && *s == '-') s++;
    if (s < end && *s == '0') s++;
    else if (s < end && *s >= '1' && *s <= '9') s = skip_digits(s, end);
    else return fail(p, "expected a value"), false;
    if (s < end && *s == '.') {
        const char *d = ++s;
        if ((s = skip_digits(s, end)) == d) return p->s = s, fail(p, "expected a digit after '.'"), false;
        integral = false;
    }
    if (s < end && (*s == 'e' || *s == 'E')) {
        s++;
        if (s < end && (*s == '+' || *s == '-')) s++;
        const char *d = s;
        if ((s = skip_digits(s, end)) == d) return p->s = s, fail(p, "expected a digit in exponent"), false;
        integral = false;
    }
    char *text = xstrndup(start, (size_t)(s - start));
    v->kind = JSON_NUMBER;
    v->number = strtod(text, NULL);
    if (integral) {
        errno = 0;
        v->integer = strtoll(text, NULL, 10);
        v->integral = errno != ERANGE;
    }
    free(text);
    p->s = s;
    return true;
}

static bool parse_value(Parser *p, JsonValue *v);

static bool enter(Parser *p)
{
    if (++p->depth > JSON_MAX_DEPTH) return fail(p, "nested deeper than %d levels", JSON_MAX_DEPTH), false;
    p->s++;
    skip_space(p);
    return true;
}

static bool parse_array(Parser *p, JsonValue *v)
{
    ValueVec items = {0};
    v->kind = JSON_ARRAY;
    bool ok = enter(p);
    if (ok && !at_end(p) && *p->s == ']') {
        p->s++;
    } else {
        while (ok) {
            JsonValue item = {0};
            ok = parse_value(p, &item);
            vec_push(&items, item);
            if (!ok) break;
            skip_space(p);
            if (!at_end(p) && *p->s == ']') { p->s++; break; }
            if (at_end(p) || *p->s != ',') { fail(p, "expected ',' or ']' in array"); ok = false; break; }
            p->s++;
        }
    }
    p->depth--;
    v->items = items.data;
    v->len = items.len;
    return ok;
}

typedef struct KeyIndex {
    const char *key;
    int index;
} KeyIndex;

static int compare_key_index(const void *a, const void *b)
{
    return strcmp(((const KeyIndex *)a)->key, ((const KeyIndex *)b)->key);
}

/* Indices of an object's items in key order. */
static int *sorted_key_order(const JsonValue *v)
{
    KeyIndex *pairs = xmalloc(sizeof *pairs * (size_t)(v->len ? v->len : 1));
    for (int i = 0; i < v->len; i++) pairs[i] = (KeyIndex){v->keys[i], i};
    qsort(pairs, (size_t)v->len, sizeof *pairs, compare_key_index);
    int *order = xmalloc(sizeof(int) * (size_t)(v->len ? v->len : 1));
    for (int i = 0; i < v->len; i++) order[i] = pairs[i].index;
    free(pairs);
    return order;
}

/* The index of the second occurrence of a repeated key, or -1. */
static int duplicate_key(const JsonValue *v)
{
    int *order = sorted_key_order(v), dup = -1;
    for (int i = 1; i < v->len; i++) {
        if (strcmp(v->keys[order[i - 1]], v->keys[order[i]]) != 0) continue;
        int later = MAX(order[i - 1], order[i]);
        if (dup < 0 || later < dup) dup = later;
    }
    free(order);
    return dup;
}

typedef Vec(TextPos) PosVec;

static bool parse_member(Parser *p, ValueVec *items, KeyVec *keys, PosVec *where)
{
    if (at_end(p) || *p->s != '"') return fail(p, "expected a string key in object"), false;
    TextPos at = position(p);
    char *key = parse_string(p);
    if (!key) return false;
    vec_push(keys, key);
    vec_push(where, at);
    skip_space(p);
    if (at_end(p) || *p->s != ':') return fail(p, "expected ':' after object key"), false;
    p->s++;
    JsonValue item = {0};
    bool ok = parse_value(p, &item);
    vec_push(items, item);
    return ok;
}

static bool parse_object(Parser *p, JsonValue *v)
{
    ValueVec items = {0};
    KeyVec keys = {0};
    PosVec where = {0};
    v->kind = JSON_OBJECT;
    bool ok = enter(p);
    if (ok && !at_end(p) && *p->s == '}') {
        p->s++;
    } else {
        while (ok) {
            ok = parse_member(p, &items, &keys, &where);
            if (!ok) break;
            skip_space(p);
            if (!at_end(p) && *p->s == '}') { p->s++; break; }
            if (at_end(p) || *p->s != ',') { fail(p, "expected ',' or '}' in object"); ok = false; break; }
            p->s++;
            skip_space(p);
        }
    }
    p->depth--;
    /* A key without its value (error mid-member) still needs a slot to free. */
    while (items.len < keys.len) vec_push(&items, (JsonValue){0});
    v->items = items.data;
    v->keys = keys.data;
    v->len = keys.len;
    int dup = ok ? duplicate_key(v) : -1;
    if (dup >= 0) fail_at(p, where.data[dup], "duplicate key", v->keys[dup]);
    vec_free(&where);
    return ok && dup < 0;
}

static bool parse_value(Parser *p, JsonValue *v)
{
    skip_space(p);
    if (at_end(p)) return fail(p, "unexpected end of input, expected a value"), false;
    switch (*p->s) {
    case '{': return parse_object(p, v);
    case '[': return parse_array(p, v);
    case '"': v->kind = JSON_STRING; return (v->string = parse_string(p)) != NULL;
    case 't': v->kind = JSON_BOOL; v->boolean = true; break;
    case 'f': v->kind = JSON_BOOL; break;
    case 'n': v->kind = JSON_NULL; break;
    default: return parse_number(p, v);
    }
    const char *word = v->kind == JSON_NULL ? "null" : v->boolean ? "true" : "false";
    if (!eat_word(p, word)) return fail(p, "expected a value"), false;
    return true;
}

JsonValue *json_parse(const char *text, size_t n, char *err, size_t errlen)
{
    Parser p = {.s = text, .end = text + n, .line_start = text, .line = 1, .err = err, .errlen = errlen};
    JsonValue *v = xcalloc(1, sizeof *v);
    if (parse_value(&p, v)) {
        skip_space(&p);
        if (!at_end(&p)) fail(&p, "unexpected text after the JSON value");
    }
    if (!p.failed) return v;
    json_free(v);
    return NULL;
}

static void free_children(JsonValue *v)
{
    free(v->string);
    for (int i = 0; i < v->len; i++) {
        free_children(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
}

void json_free(JsonValue *v)
{
    if (!v) return;
    free_children(v);
    free(v);
}

const JsonValue *json_get(const JsonValue *object, const char *key)
{
    if (!object || object->kind != JSON_OBJECT) return NULL;
    for (int i = 0; i < object->len; i++)
        if (strcmp(object->keys[i], key) == 0) return &object->items[i];
    return NULL;
}

/* ---- Writer ------------------------------------------------------------ */

static void put(JsonWriter *w, const char *s, size_t n)
{
    if (w->len + n + 1 > w->cap) {
        w->cap = MAX(2 * w->cap, w->len + n + 64);
        w->buf = xrealloc(w->buf, w->cap);
    }
    memcpy(w->buf + w->len, s, n);
    w->len += n;
    w->buf[w->len] = 0;
}

static void puts_w(JsonWriter *w, const char *s) { put(w, s, strlen(s)); }

static void newline(JsonWriter *w)
{
    if (!w->indent) return;
    put(w, "\n", 1);
    for (int i = 0; i < w->depth * w->indent; i++) put(w, " ", 1);
}

/* Before any value: the comma and indentation its position needs. */
static void begin_item(JsonWriter *w)
{
    if (w->after_key) {
        w->after_key = false;
        return;
    }
    if (w->depth == 0) return;
    if (w->has_items[w->depth - 1]) put(w, ",", 1);
    w->has_items[w->depth - 1] = true;
    newline(w);
}

void jw_init(JsonWriter *w, int indent)
{
    *w = (JsonWriter){.indent = indent};
    put(w, "", 0);
}

char *jw_take(JsonWriter *w)
{
    if (w->depth != 0) ice("JSON writer: %d containers left open", w->depth);
    char *s = w->buf;
    *w = (JsonWriter){.indent = w->indent};
    put(w, "", 0);
    return s;
}

void jw_free(JsonWriter *w)
{
    free(w->buf);
    *w = (JsonWriter){0};
}

static void open_container(JsonWriter *w, const char *bracket)
{
    begin_item(w);
    if (w->depth == JSON_MAX_DEPTH) ice("JSON writer: nested deeper than %d", JSON_MAX_DEPTH);
    puts_w(w, bracket);
    w->has_items[w->depth++] = false;
}

static void close_container(JsonWriter *w, const char *bracket)
{
    if (w->depth == 0 || w->after_key) ice("JSON writer: unbalanced '%s'", bracket);
    bool had_items = w->has_items[--w->depth];
    if (had_items) newline(w);
    puts_w(w, bracket);
}

void jw_object(JsonWriter *w) { open_container(w, "{"); }
void jw_end_object(JsonWriter *w) { close_container(w, "}"); }
void jw_array(JsonWriter *w) { open_container(w, "["); }
void jw_end_array(JsonWriter *w) { close_container(w, "]"); }

static void put_quoted(JsonWriter *w, const char *s)
{
    put(w, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *k = strchr("\"\\\b\f\n\r\t", c);
        if (c && k) {
            char esc[3] = {'\\', "\"\\bfnrt"[k - "\"\\\b\f\n\r\t"], 0};
            put(w, esc, 2);
        } else if (c < 0x20) {
            char esc[8];
            snprintf(esc, sizeof esc, "\\u%04x", c);
            put(w, esc, 6);
        } else {
            put(w, (const char *)&c, 1);
        }
    }
    put(w, "\"", 1);
}

void jw_key(JsonWriter *w, const char *key)
{
    begin_item(w);
    put_quoted(w, key);
    put(w, w->indent ? ": " : ":", w->indent ? 2 : 1);
    w->after_key = true;
}

void jw_string(JsonWriter *w, const char *s)
{
    begin_item(w);
    put_quoted(w, s);
}

void jw_int(JsonWriter *w, int64_t x)
{
    char buf[32];
    begin_item(w);
    snprintf(buf, sizeof buf, "%lld", (long long)x);
    puts_w(w, buf);
}

/* The shortest "%.Ng" that reads back as the same double, except that
 * whole numbers below 1e16 are written out ("800", not "8e+02"). */
void jw_double(JsonWriter *w, double x)
{
    if (!isfinite(x)) {
        jw_null(w);
        return;
    }
    char buf[40];
    if (x == floor(x) && fabs(x) < 1e16) {
        snprintf(buf, sizeof buf, "%.0f", x);
    } else {
        for (int digits = 1; digits <= 17; digits++) {
            snprintf(buf, sizeof buf, "%.*g", digits, x);
            if (strtod(buf, NULL) == x) break;
        }
    }
    begin_item(w);
    puts_w(w, buf);
}

void jw_bool(JsonWriter *w, bool b)
{
    begin_item(w);
    puts_w(w, b ? "true" : "false");
}

void jw_null(JsonWriter *w)
{
    begin_item(w);
    puts_w(w, "null");
}

void jw_value(JsonWriter *w, const JsonValue *v, bool sort_keys)
{
    switch (v->kind) {
    case JSON_NULL: jw_null(w); return;
    case JSON_BOOL: jw_bool(w, v->boolean); return;
    case JSON_NUMBER: v->integral ? jw_int(w, v->integer) : jw_double(w, v->number); return;
    case JSON_STRING: jw_string(w, v->string); return;
    case JSON_ARRAY:
        jw_array(w);
        for (int i = 0; i < v->len; i++) jw_value(w, &v->items[i], sort_keys);
        jw_end_array(w);
        return;
    case JSON_OBJECT: break;
    }
    int *order = sort_keys ? sorted_key_order(v) : NULL;
    jw_object(w);
    for (int i = 0; i < v->len; i++) {
        int k = order ? order[i] : i;
        jw_key(w, v->keys[k]);
        jw_value(w, &v->items[k], sort_keys);
    }
    jw_end_object(w);
    free(order);
}

uint64_t json_fingerprint(const JsonValue *v)
{
    JsonWriter w;
    jw_init(&w, 0);
    jw_value(&w, v, true);
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < w.len; i++) h = (h ^ (unsigned char)w.buf[i]) * 1099511628211ull;
    jw_free(&w);
    return h;
}
