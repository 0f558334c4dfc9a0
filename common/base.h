/* base.h: the few things every layer of cssmc uses.
 *
 * Growable vectors (Vec), fatal errors for internal bugs (ice) and for
 * unrecoverable user-facing failures (die), checked allocation, the
 * compiler's arena and a monotonic clock. Everything here is plain C11 (and
 * POSIX's clock_gettime) with no dependencies, so the runtime and the tests
 * can include it too. */
#ifndef CSSM_BASE_H
#define CSSM_BASE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <stdlib.h>

#define CSSM_VERSION "0.1.0"

#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define MIN(a, b) ((a) < (b) ? (a) : (b))

/* A compiler bug: prints "internal error" with the location and aborts. */
#define ice(...) ice_at(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void ice_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* An unrecoverable failure that is not a bug (I/O, bad environment): prints
 * "cssmc: error: ..." and exits with status 1. */
_Noreturn void die(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a fresh heap string. */
char *xprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Seconds on the monotonic clock (for measuring intervals). */
double monotonic_seconds(void);

/* Vec(T): { T *data; int len, cap; }, grown by vec_push. */
#define Vec(T) struct { T *data; int len, cap; }
#define vec_push(v, x)                                                        \
    do {                                                                      \
        if ((v)->len == (v)->cap) {                                           \
            (v)->cap = (v)->cap ? 2 * (v)->cap : 8;                           \
            (v)->data = xrealloc((v)->data, (size_t)(v)->cap * sizeof(*(v)->data)); \
        }                                                                     \
        (v)->data[(v)->len++] = (x);                                          \
    } while (0)
#define vec_free(v) (free((v)->data), (v)->data = NULL, (v)->len = (v)->cap = 0)

/* Arena: bump allocation for the compiler's long-lived objects (AST, IR
 * attributes, strings). Freed all at once. */
typedef struct ArenaBlock ArenaBlock;
typedef struct Arena { ArenaBlock *head; } Arena;
void *arena_alloc(Arena *a, size_t n);          /* zeroed, 16-byte aligned */
char *arena_strdup(Arena *a, const char *s);
char *arena_strndup(Arena *a, const char *s, size_t n);
void arena_free(Arena *a);

/* Strings that live as long as the process, compared by pointer. */
const char *intern(const char *s);
const char *intern_n(const char *s, size_t n);

#endif
