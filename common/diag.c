/* diag.c: printing diagnostics with the source line and a caret range.
 *
 * The source line is shown as it is, except that tabs become one space (so
 * the caret lines up), bytes that are not printable ASCII or UTF-8 show as
 * '?', and very long lines are cut to a window around the error column. */
#include "diag.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int error_count;

SrcFile *srcfile_from_string(const char *path, const char *text)
{
    SrcFile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->len = strlen(text);
    f->text = xstrdup(text);
    return f;
}

SrcFile *srcfile_load(const char *path)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    size_t cap = 4096, len = 0, n;
    char *buf = xmalloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, fp)) > 0) {
        len += n;
        if (cap - len - 1 == 0) buf = xrealloc(buf, cap *= 2);
    }
    int failed = ferror(fp);
    fclose(fp);
    if (failed) {
        free(buf);
        errno = EIO;
        return NULL;
    }
    buf[len] = 0;
    SrcFile *f = xcalloc(1, sizeof *f);
    f->path = xstrdup(path);
    f->text = buf;
    f->len = len;
    return f;
}

Loc loc_span(Loc from, Loc to)
{
    if (!from.file) return to;
    if (!to.file) return from;
    from.end_line = to.end_line;
    from.end_col = to.end_col;
    return from;
}

/* Start of line `line` (1-based) in f, or NULL past the end. */
static const char *line_start(const SrcFile *f, int line)
{
    const char *p = f->text, *end = f->text + f->len;
    for (int l = 1; l < line; l++) {
        p = memchr(p, '\n', (size_t)(end - p));
        if (!p) return NULL;
        p++;
    }
    return p;
}

enum { WINDOW = 160 };

static void print_source(Loc loc)
{
    const char *start = line_start(loc.file, loc.line);
    if (!start) return;
    const char *end = loc.file->text + loc.file->len;
    const char *eol = memchr(start, '\n', (size_t)(end - start));
    if (!eol) eol = end;
    long len = eol - start, col = loc.col - 1;
    long from = col > WINDOW / 2 ? col - WINDOW / 2 : 0;
    long to = MIN(len, from + WINDOW);
    fprintf(stderr, "%5d | %s", loc.line, from ? "..." : "");
    for (long i = from; i < to; i++) {
        unsigned char c = (unsigned char)start[i];
        fputc(c == '\t' ? ' ' : (c >= 32 && c < 127) || c >= 0x80 ? c : '?', stderr);
    }
    fputs(to < len ? "...\n" : "\n", stderr);
    long last = loc.end_line == loc.line && loc.end_col >= loc.col ? loc.end_col - 1 : col;
    last = MIN(last, to);
    fprintf(stderr, "      | %s", from ? "   " : "");
    for (long i = from; i < col && i < to; i++) fputc(' ', stderr);
    fputc('^', stderr);
    for (long i = col + 1; i <= last; i++) fputc('~', stderr);
    fputc('\n', stderr);
}

static void report(const char *kind, Loc loc, const char *fmt, va_list ap)
{
    if (loc.file) fprintf(stderr, "%s:%d:%d: %s: ", loc.file->path, loc.line, loc.col, kind);
    else fprintf(stderr, "cssmc: %s: ", kind);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    if (loc.file && loc.line > 0) print_source(loc);
}

void diag_verror(Loc loc, const char *fmt, va_list ap)
{
    report("error", loc, fmt, ap);
    if (++error_count >= DIAG_MAX_ERRORS) {
        fprintf(stderr, "cssmc: too many errors, stopping\n");
        exit(1);
    }
}

void diag_error(Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    diag_verror(loc, fmt, ap);
    va_end(ap);
}

void diag_warning(Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("warning", loc, fmt, ap);
    va_end(ap);
}

void diag_note(Loc loc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report("note", loc, fmt, ap);
    va_end(ap);
}

int diag_error_count(void) { return error_count; }
void diag_reset(void) { error_count = 0; }
