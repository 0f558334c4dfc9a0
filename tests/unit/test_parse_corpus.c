/* test_parse_corpus.c: the parser survives whatever it is given.
 *
 * Parses and prints every file of tests/fuzz/corpus (the fuzzer's seeds and
 * every input that once crashed or hung it), then a set of generated
 * pathological inputs: megabyte lines, NUL bytes, binary garbage, brackets
 * and expressions nested past the limits, runaway else-if chains, floods of
 * errors. Each must come back with a program and an error count within the
 * per-file limit; the generated ones must also produce exactly the number
 * of errors listed (so a limit that stops working fails the test). Output
 * of the parser goes to /dev/null. Leaks are checked by building this test
 * with sanitizers (make asan); a hang trips the watchdog, which allows
 * minutes for what takes milliseconds. */
#include "ast.h"

#include <fcntl.h>
#include <glob.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rng.h"

enum { WATCHDOG_SECONDS = 300, MB = 1 << 20, MAX_ERRORS_PER_FILE = 10 };

static void watchdog(int sig)
{
    (void)sig;
    static const char msg[] = "test_parse_corpus: the parser hangs on an input\n";
    if (write(2, msg, sizeof msg - 1) < 0) _exit(2);
    _exit(2);
}

/* Parses and prints one input with stderr silenced; returns its error count. */
static int parse_quietly(const char *name, const char *text, size_t len, FILE *sink)
{
    printf("%s\n", name);
    fflush(stdout);
    SrcFile f = {.path = name, .text = text, .len = len};
    int saved = dup(2), null = open("/dev/null", O_WRONLY);
    dup2(null, 2);
    alarm(WATCHDOG_SECONDS);
    diag_reset();
    Arena arena = {0};
    Program *prog = parse_file(&f, &arena);
    ast_print(sink, prog);
    arena_free(&arena);
    alarm(0);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    close(null);
    return diag_error_count();
}

static bool within_limit(const char *name, int errors)
{
    if (errors <= MAX_ERRORS_PER_FILE) return true;
    fprintf(stderr, "%s: %d errors, more than the per-file limit %d\n", name, errors,
            MAX_ERRORS_PER_FILE);
    return false;
}

static int run_corpus(FILE *sink)
{
    glob_t g;
    if (glob("tests/fuzz/corpus/*", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "tests/fuzz/corpus is empty or missing\n");
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        SrcFile *f = srcfile_load(g.gl_pathv[i]);
        if (!f) die("cannot read %s", g.gl_pathv[i]);
        if (!within_limit(f->path, parse_quietly(f->path, f->text, f->len, sink))) failed++;
        free((char *)f->text);
        free((char *)f->path);
        free(f);
    }
    printf("%zu corpus files\n", g.gl_pathc);
    globfree(&g);
    return failed;
}

/* ---- generated inputs */

typedef struct Text {
    char *data;
    size_t len, cap;
} Text;

static void add(Text *t, const char *s, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = MAX(2 * t->cap, t->len + n + 1);
        t->data = xrealloc(t->data, t->cap);
    }
    memcpy(t->data + t->len, s, n);
    t->len += n;
    t->data[t->len] = 0;
}

static void add_str(Text *t, const char *s) { add(t, s, strlen(s)); }

static void repeat(Text *t, const char *s, int times)
{
    for (int i = 0; i < times; i++) add_str(t, s);
}

typedef struct Case {
    const char *name;
    int errors;                        /* exactly this many */
    void (*make)(Text *t);
} Case;

static void long_name(Text *t) { add_str(t, "x = "); repeat(t, "a", MB); add_str(t, "\n"); }
static void long_list(Text *t) { add_str(t, "x = ["); repeat(t, "a, ", MB / 3); add_str(t, "b]"); }
static void long_comment(Text *t) { repeat(t, "# ", MB / 2); }
static void long_string(Text *t) { add_str(t, "x = \""); repeat(t, "s", MB); }
static void nul_bytes(Text *t) { add_str(t, "x = 1"); add(t, "\0\0\0", 3); add_str(t, " + 2\n"); }
static void deep_parens_ok(Text *t) { add_str(t, "x = "); repeat(t, "(", 256); add_str(t, "1"); repeat(t, ")", 256); }
static void deep_parens(Text *t) { add_str(t, "x = "); repeat(t, "(", 100000); }
static void deep_lists(Text *t) { add_str(t, "x = "); repeat(t, "[", 300); repeat(t, "]", 300); }
static void deep_braces(Text *t) { add_str(t, "block f() {\n"); repeat(t, "if a {\n", 300); }
static void long_sum(Text *t) { add_str(t, "x = 1"); repeat(t, " + 1", 100000); }
static void sum_at_limit(Text *t) { add_str(t, "x = 1"); repeat(t, " + 1", 255); }
static void long_negation(Text *t) { add_str(t, "x = "); repeat(t, "-", 100000); add_str(t, "1"); }
static void long_power(Text *t) { add_str(t, "x = 2"); repeat(t, " ** 2", 5000); }
static void long_calls(Text *t) { add_str(t, "x = f"); repeat(t, "()", 300); }
static void long_fields(Text *t) { add_str(t, "x = a"); repeat(t, ".b", 300); }
static void else_if_chain(Text *t) { add_str(t, "block f() {\n if a { }"); repeat(t, " else if a { }", 1000); add_str(t, "\n}\n"); }
static void else_if_runaway(Text *t) { add_str(t, "block f() {\n if a { }"); repeat(t, " else if a { }", 100000); }
static void error_flood(Text *t) { repeat(t, "x = $\n", 10000); }
static void syntax_flood(Text *t) { repeat(t, "x = = 1\n", 10000); }
static void only_closers(Text *t) { repeat(t, ")]}", 10000); }
static void many_items(Text *t) { repeat(t, "block f(x) = x\n", 20000); }
static void crlf(Text *t) { add_str(t, "block f(x) {\r\n  return x\r\n}\r\n"); }

static void garbage(Text *t)
{
    Rng r = rng_new(20260101);
    for (int i = 0; i < 65536; i++) {
        char c = (char)rng_below(&r, 256);
        add(t, &c, 1);
    }
}

static const Case cases[] = {
    {"long name", 0, long_name},
    {"long list", 0, long_list},
    {"long comment", 0, long_comment},
    {"long unterminated string", 1, long_string},
    {"NUL bytes", 1, nul_bytes},
    {"parens at the limit", 0, deep_parens_ok},
    {"parens past the limit", 1, deep_parens},
    {"lists past the limit", 1, deep_lists},
    {"braces past the limit", 1, deep_braces},
    {"sum past the limit", 1, long_sum},
    {"sum at the limit", 0, sum_at_limit},
    {"runaway negation", 1, long_negation},
    {"runaway power", 1, long_power},
    {"runaway calls", 1, long_calls},
    {"runaway fields", 1, long_fields},
    {"else-if chain", 0, else_if_chain},
    {"runaway else-if chain", 1, else_if_runaway},
    {"bad-character flood", MAX_ERRORS_PER_FILE, error_flood},
    {"syntax-error flood", MAX_ERRORS_PER_FILE, syntax_flood},
    {"only closers", 1, only_closers},
    {"many items", 0, many_items},
    {"CRLF lines", 0, crlf},
    {"binary garbage", MAX_ERRORS_PER_FILE, garbage},
};

static int run_generated(FILE *sink)
{
    int failed = 0;
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        Text t = {0};
        add_str(&t, "");
        cases[i].make(&t);
        int errors = parse_quietly(cases[i].name, t.data, t.len, sink);
        if (errors != cases[i].errors) {
            fprintf(stderr, "%s: %d errors, expected %d\n", cases[i].name, errors,
                    cases[i].errors);
            failed++;
        }
        free(t.data);
    }
    return failed;
}

int main(void)
{
    const char *root = getenv("CSSM_ROOT");
    if (root && chdir(root) != 0) die("cannot enter CSSM_ROOT %s", root);
    signal(SIGALRM, watchdog);
    FILE *sink = fopen("/dev/null", "w");
    if (!sink) die("cannot open /dev/null");
    int failed = run_corpus(sink) + run_generated(sink);
    fclose(sink);
    printf("%d failed\n", failed);
    return failed ? 1 : 0;
}
