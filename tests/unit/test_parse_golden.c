/* test_parse_golden.c: the golden AST dumps of tests/parse.
 *
 * Parses every tests/parse/NAME.cssm (run from the repository root), prints
 * its tree with ast_print and compares the text with tests/parse/NAME.ast.
 * A file must parse without a single error, and its dump must match byte
 * for byte; the first differing line is shown. With UPDATE=1 in the
 * environment the .ast files are rewritten instead (atomically) and the
 * test passes, so an intended change to the format or the grammar is one
 * command and one reviewed diff. No .cssm files at all is a failure. */
#include "ast.h"

#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char *read_text(const char *path)
{
    SrcFile *f = srcfile_load(path);
    if (!f) return NULL;
    char *text = (char *)f->text;
    free((char *)f->path);
    free(f);
    return text;
}

/* The dump of `path`, or NULL when it had syntax errors. */
static char *dump(const char *path)
{
    SrcFile *f = srcfile_load(path);
    if (!f) {
        fprintf(stderr, "%s: cannot read: %s\n", path, strerror(errno));
        return NULL;
    }
    diag_reset();
    Arena arena = {0};
    Program *prog = parse_file(f, &arena);
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    ast_print(out, prog);
    fclose(out);
    arena_free(&arena);
    free((char *)f->text);
    free((char *)f->path);
    free(f);
    if (diag_error_count() == 0) return text;
    fprintf(stderr, "%s: %d syntax errors (a golden input must parse cleanly)\n", path,
            diag_error_count());
    free(text);
    return NULL;
}

static bool write_atomically(const char *path, const char *text)
{
    char *tmp = xprintf("%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t len = strlen(text);
    bool ok = fd >= 0 && write(fd, text, len) == (ssize_t)len && fsync(fd) == 0;
    if (fd >= 0) ok = close(fd) == 0 && ok;
    ok = ok && rename(tmp, path) == 0;
    if (!ok) fprintf(stderr, "%s: cannot write: %s\n", path, strerror(errno));
    free(tmp);
    return ok;
}

/* Prints the first line where the two texts differ. */
static void show_difference(const char *golden_path, const char *want, const char *got)
{
    int line = 1;
    while (*want && *want == *got) {
        if (*want == '\n') line++;
        want++, got++;
    }
    while (line > 1 && want[-1] != '\n') want--, got--;
    fprintf(stderr, "%s:%d: differs\n  expected: %.*s\n  got:      %.*s\n", golden_path, line,
            (int)strcspn(want, "\n"), want, (int)strcspn(got, "\n"), got);
}

static bool check_one(const char *cssm, bool update)
{
    char *golden_path = xprintf("%.*s.ast", (int)(strlen(cssm) - 5), cssm);
    char *got = dump(cssm);
    bool ok = got != NULL;
    if (ok && update) {
        ok = write_atomically(golden_path, got);
    } else if (ok) {
        char *want = read_text(golden_path);
        if (!want) fprintf(stderr, "%s: missing (run with UPDATE=1 to create it)\n", golden_path);
        else if (strcmp(want, got)) show_difference(golden_path, want, got);
        ok = want && !strcmp(want, got);
        free(want);
    }
    free(got);
    free(golden_path);
    return ok;
}

int main(void)
{
    const char *root = getenv("CSSM_ROOT");
    if (root && chdir(root) != 0) die("cannot enter CSSM_ROOT %s", root);
    const char *update_env = getenv("UPDATE");
    bool update = update_env && !strcmp(update_env, "1");
    glob_t g;
    if (glob("tests/parse/*.cssm", 0, NULL, &g) != 0 || g.gl_pathc == 0) {
        fprintf(stderr, "no tests/parse/*.cssm found (run from the repository root)\n");
        return 1;
    }
    int failed = 0;
    for (size_t i = 0; i < g.gl_pathc; i++)
        if (!check_one(g.gl_pathv[i], update)) failed++;
    printf("%zu golden parses, %d failed%s\n", g.gl_pathc, failed, update ? " (updated)" : "");
    globfree(&g);
    return failed ? 1 : 0;
}
