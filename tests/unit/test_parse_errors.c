/* test_parse_errors.c: the syntax-error files of tests/errors.
 *
 * Each tests/errors/syntax_*.cssm states what the parser must say about it
 * in header lines `#@ LINE:COL: error: MESSAGE` (exact text, one per
 * error). The file is parsed in a child process with stderr captured; the
 * test fails when the set of `LINE:COL: error: MESSAGE` lines printed for
 * that file differs from the expected set, when an error line is not
 * followed by its source line and caret, or when the child does not exit
 * normally. Fewer than twelve such files, or a file that expects nothing,
 * is a failure too: every file must test a mistake. */
#include "ast.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

enum { MIN_FILES = 12 };

typedef Vec(char *) Lines;

static void lines_free(Lines *l)
{
    for (int i = 0; i < l->len; i++) free(l->data[i]);
    vec_free(l);
}

static int compare_strings(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The `#@ ` lines of the file, without the marker. */
static Lines expectations(const SrcFile *f)
{
    Lines want = {0};
    for (const char *line = f->text; line && *line;) {
        const char *eol = strchr(line, '\n');
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > 3 && !strncmp(line, "#@ ", 3)) vec_push(&want, xstrndup(line + 3, len - 3));
        line = eol ? eol + 1 : NULL;
    }
    return want;
}

/* Parses f in a child and returns what it wrote to stderr; *status is its
 * wait status. */
static char *parse_in_child(const SrcFile *f, int *status)
{
    int fds[2];
    if (pipe(fds) != 0) die("pipe failed");
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) die("fork failed");
    if (pid == 0) {
        dup2(fds[1], 2);
        close(fds[0]);
        Arena arena = {0};
        parse_file(f, &arena);
        arena_free(&arena);
        _exit(0);
    }
    close(fds[1]);
    char *out = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&out, &len);
    char buf[4096];
    ssize_t n;
    while ((n = read(fds[0], buf, sizeof buf)) > 0) fwrite(buf, 1, (size_t)n, mem);
    fclose(mem);
    close(fds[0]);
    waitpid(pid, status, 0);
    return out;
}

static bool is_source_echo(const char *line)
{
    while (*line == ' ') line++;
    while (*line >= '0' && *line <= '9') line++;
    return !strncmp(line, " | ", 3) || !strcmp(line, " |");
}

/* The `LINE:COL: error: MESSAGE` lines about `path`; each must be followed
 * by the source line and the caret line. */
static Lines errors_in(const char *out, const char *path, bool *well_formed)
{
    Lines got = {0};
    size_t plen = strlen(path);
    char *copy = xstrdup(out), *save = NULL;
    char *line = strtok_r(copy, "\n", &save);
    while (line) {
        char *next = strtok_r(NULL, "\n", &save);
        bool ours = !strncmp(line, path, plen) && line[plen] == ':' && strstr(line, ": error: ");
        if (ours) {
            vec_push(&got, xstrdup(line + plen + 1));
            if (!next || !is_source_echo(next)) *well_formed = false;
        }
        line = next;
    }
    free(copy);
    return got;
}

static void report_difference(const char *path, const Lines *want, const Lines *got)
{
    for (int i = 0, j = 0; i < want->len || j < got->len;) {
        int c = i == want->len ? 1 : j == got->len ? -1 : strcmp(want->data[i], got->data[j]);
        if (c < 0) fprintf(stderr, "%s: missing:    %s\n", path, want->data[i++]);
        else if (c > 0) fprintf(stderr, "%s: unexpected: %s\n", path, got->data[j++]);
        else i++, j++;
    }
}

static bool same_lines(const Lines *a, const Lines *b)
{
    if (a->len != b->len) return false;
    for (int i = 0; i < a->len; i++)
        if (strcmp(a->data[i], b->data[i])) return false;
    return true;
}

static bool check_file(const char *path)
{
    SrcFile *f = srcfile_load(path);
    if (!f) {
        fprintf(stderr, "%s: cannot read\n", path);
        return false;
    }
    Lines want = expectations(f);
    int status;
    char *out = parse_in_child(f, &status);
    bool well_formed = true;
    Lines got = errors_in(out, path, &well_formed);
    qsort(want.data, (size_t)want.len, sizeof *want.data, compare_strings);
    qsort(got.data, (size_t)got.len, sizeof *got.data, compare_strings);
    bool exited = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    bool ok = exited && well_formed && want.len > 0 && same_lines(&want, &got);
    if (!exited) fprintf(stderr, "%s: the parser did not exit normally (status %d)\n", path, status);
    if (!well_formed) fprintf(stderr, "%s: an error without its source line and caret\n", path);
    if (want.len == 0) fprintf(stderr, "%s: no '#@ LINE:COL: error: MESSAGE' lines\n", path);
    if (!ok) {
        report_difference(path, &want, &got);
        fprintf(stderr, "--- stderr of %s:\n%s", path, out);
    }
    lines_free(&want);
    lines_free(&got);
    free(out);
    free((char *)f->text);
    free((char *)f->path);
    free(f);
    return ok;
}

int main(void)
{
    const char *root = getenv("CSSM_ROOT");
    if (root && chdir(root) != 0) die("cannot enter CSSM_ROOT %s", root);
    glob_t g;
    if (glob("tests/errors/syntax_*.cssm", 0, NULL, &g) != 0) g.gl_pathc = 0;
    int failed = 0;
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (!check_file(g.gl_pathv[i])) failed++;
    printf("%zu syntax-error files, %d failed\n", g.gl_pathc, failed);
    if (g.gl_pathc < MIN_FILES) {
        fprintf(stderr, "expected at least %d tests/errors/syntax_*.cssm files\n", MIN_FILES);
        failed++;
    }
    if (g.gl_pathc) globfree(&g);
    return failed ? 1 : 0;
}
