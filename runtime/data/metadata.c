/* metadata.c: the metadata.json files beside TFRecord datasets.
 *
 * The reference's converters write a flat JSON object of numbers and
 * strings (json.dump(indent=2)). This reads such an object (any JSON value
 * is accepted; nested objects and arrays are kept as raw text, never
 * interpreted) and writes one in the same layout, keys in insertion order,
 * so a file written here reads back identically in Python. Strings with
 * escapes are decoded for ASCII; other \u escapes are kept verbatim. */
#include "dataset.h"
#include "base.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct Json {
    const char *p, *end;
} Json;

static void skip_ws(Json *j) { while (j->p < j->end && isspace((unsigned char)*j->p)) j->p++; }

/* Reads a string token (j->p at the opening quote) into a fresh buffer. */
static char *json_string(Json *j)
{
    Vec(char) s = {0};
    for (j->p++; j->p < j->end && *j->p != '"'; j->p++) {
        char c = *j->p;
        if (c == '\\' && j->p + 1 < j->end) {
            c = *++j->p;
            static const char from[] = "nrtbf", to[] = "\n\r\t\b\f";
            const char *k = strchr(from, c);
            if (k && c) c = to[k - from];
            else if (c == 'u') c = '?';   /* non-ASCII in a key or value: not used by any schema */
        }
        vec_push(&s, c);
    }
    if (j->p >= j->end) {
        vec_free(&s);
        return NULL;
    }
    j->p++;
    vec_push(&s, 0);
    return s.data;
}

/* Any other value: its raw text up to the next top-level ',' or '}'. */
static char *json_raw(Json *j)
{
    const char *start = j->p;
    int depth = 0, in_str = 0;
    for (; j->p < j->end; j->p++) {
        char c = *j->p;
        if (in_str) {
            if (c == '\\') j->p++;
            else if (c == '"') in_str = 0;
        } else if (c == '"') {
            in_str = 1;
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (depth-- == 0) break;
        } else if (c == ',' && depth == 0) {
            break;
        }
    }
    const char *e = j->p;
    while (e > start && isspace((unsigned char)e[-1])) e--;
    return e > start ? xstrndup(start, (size_t)(e - start)) : NULL;
}

static int parse_object(Json *j, Meta *m)
{
    skip_ws(j);
    if (j->p >= j->end || *j->p++ != '{') return -1;
    for (;;) {
        skip_ws(j);
        if (j->p < j->end && *j->p == '}') return 0;
        if (j->p >= j->end || *j->p != '"') return -1;
        char *key = json_string(j);
        skip_ws(j);
        if (!key || j->p >= j->end || *j->p++ != ':') return free(key), -1;
        skip_ws(j);
        int is_string = j->p < j->end && *j->p == '"';
        char *val = is_string ? json_string(j) : json_raw(j);
        if (!val) return free(key), -1;
        meta_set(m, key, val, is_string);
        free(key);
        free(val);
        skip_ws(j);
        if (j->p < j->end && *j->p == ',') j->p++;
        else if (j->p >= j->end || *j->p != '}') return -1;
    }
}

int meta_read(const char *path, Meta *m, char *err, size_t errlen)
{
    memset(m, 0, sizeof *m);
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        if (errno == ENOENT) return 0;
        return errf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    }
    Vec(char) text = {0};
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
        for (size_t i = 0; i < n; i++) vec_push(&text, buf[i]);
    fclose(fp);
    Json j = {text.data, text.data + text.len};
    int rc = text.len > 0 ? parse_object(&j, m) : -1;
    vec_free(&text);
    if (rc) {
        meta_free(m);
        return errf(err, errlen, "%s: malformed JSON (expected a flat object of numbers and strings)", path);
    }
    return 1;
}

const char *meta_get(const Meta *m, const char *key)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].key, key)) return m->e[i].text;
    return NULL;
}

int meta_get_int(const Meta *m, const char *key, int64_t *v)
{
    const char *t = meta_get(m, key);
    if (!t || !*t) return -1;
    char *end;
    long long x = strtoll(t, &end, 10);
    if (*end) return -1;
    *v = x;
    return 0;
}

void meta_set(Meta *m, const char *key, const char *text, int is_string)
{
    for (int i = 0; i < m->n; i++)
        if (!strcmp(m->e[i].key, key)) {
            free(m->e[i].text);
            m->e[i].text = xstrdup(text);
            m->e[i].is_string = is_string;
            return;
        }
    m->e = xrealloc(m->e, sizeof(MetaEntry) * (size_t)(m->n + 1));
    m->e[m->n++] = (MetaEntry){xstrdup(key), xstrdup(text), is_string};
}

void meta_set_int(Meta *m, const char *key, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", (long long)v);
    meta_set(m, key, buf, 0);
}

void meta_set_double(Meta *m, const char *key, double v)
{
    char buf[40];
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, v);
        if (strtod(buf, NULL) == v) break;
    }
    if (!strpbrk(buf, ".eEn")) strcat(buf, ".0");   /* Python writes 1.0, not 1 */
    meta_set(m, key, buf, 0);
}

static void write_string(FILE *fp, const char *s)
{
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"' || *s == '\\') fprintf(fp, "\\%c", *s);
        else if ((unsigned char)*s < 0x20) fprintf(fp, "\\u%04x", *s);
        else fputc(*s, fp);
    }
    fputc('"', fp);
}

int meta_write(const char *path, const Meta *m, char *err, size_t errlen)
{
    OutFile f;
    if (outfile_open(&f, path, err, errlen)) return -1;
    fputs(m->n ? "{\n" : "{", f.fp);
    for (int i = 0; i < m->n; i++) {
        fputs("  ", f.fp);
        write_string(f.fp, m->e[i].key);
        fputs(": ", f.fp);
        if (m->e[i].is_string) write_string(f.fp, m->e[i].text);
        else fputs(m->e[i].text, f.fp);
        fputs(i + 1 < m->n ? ",\n" : "\n", f.fp);
    }
    fputs("}", f.fp);
    return outfile_commit(&f, err, errlen);
}

void meta_free(Meta *m)
{
    for (int i = 0; i < m->n; i++) {
        free(m->e[i].key);
        free(m->e[i].text);
    }
    free(m->e);
    m->e = NULL;
    m->n = 0;
}
