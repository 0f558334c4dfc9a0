/* diag.h: source files, locations and diagnostics.
 *
 * Every user-facing message about a .cssm file goes through here, so they all
 * look the same: "file:line:col: error: message", then the source line and a
 * caret under the range. Errors are counted, not fatal: a phase keeps going
 * and the driver stops between phases when diag_error_count() > 0. */
#ifndef CSSM_DIAG_H
#define CSSM_DIAG_H

#include "base.h"

typedef struct SrcFile {
    const char *path;      /* as the user named it */
    const char *text;      /* NUL-terminated copy of the contents */
    size_t len;            /* bytes, excluding the terminator (text may hold NULs) */
} SrcFile;

/* A range in a source file; lines and columns count from 1, end is inclusive.
 * file == NULL means "no location" (command-line errors). */
typedef struct Loc {
    const SrcFile *file;
    int line, col, end_line, end_col;
} Loc;

/* Reads a whole file; returns NULL (with errno set) when it cannot. */
SrcFile *srcfile_load(const char *path);
SrcFile *srcfile_from_string(const char *path, const char *text);

Loc loc_span(Loc from, Loc to);   /* from's start to to's end */

void diag_error(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_warning(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_note(Loc loc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void diag_verror(Loc loc, const char *fmt, va_list ap);

int diag_error_count(void);
void diag_reset(void);
/* After this many errors the process stops with "too many errors". */
enum { DIAG_MAX_ERRORS = 20 };

#endif
