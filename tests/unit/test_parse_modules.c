/* test_parse_modules.c: imports, search order, load-once, cycles, lookup.
 *
 * Builds a small tree of .cssm files in a fresh temporary folder, loads it
 * with a ModuleLoader whose search list is [inc, models] (as -I inc and the
 * installed models/ would give), and checks lang/resolve.c against the
 * contract of ast.h: the importing folder wins over -I folders, which win
 * over models/; a file reached twice is loaded once; a cycle and a missing
 * import are reported at the import, naming the chain and the places
 * searched; module_lookup sees own items first, then unaliased imports depth
 * first, and aliased ones only through their qualifier. */
#include "ast.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static void write_file(const char *path, const char *text)
{
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (slash) {
        *slash = 0;
        mkdir(dir, 0755);
    }
    FILE *f = fopen(path, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0) die("cannot write %s", path);
    free(dir);
}

static void make_tree(void)
{
    write_file("main.cssm", "import std\nimport a.b as ab\nimport \"sub/c.cssm\"\nimport d\n"
                            "w = 0\ny = 5\n");
    write_file("std.cssm", "x = 1\n");
    write_file("a/b.cssm", "block f(x) = x\ny = 2\n");
    write_file("sub/c.cssm", "import \"../std.cssm\"\nimport \"../e2.cssm\"\nk = 1\n");
    write_file("e2.cssm", "q = \"deep\"\n");
    write_file("inc/d.cssm", "q = \"later\"\nk = 2\n");
    write_file("models/std.cssm", "x = 100\n");
    write_file("models/d.cssm", "shadowed = 1\n");
    write_file("models/only.cssm", "o = 1\n");
    write_file("cyc/a.cssm", "import b\n");
    write_file("cyc/b.cssm", "import a\n");
    write_file("self.cssm", "import \"self.cssm\"\n");
    write_file("missing.cssm", "import nothere\nimport only\n");
}

static ModuleLoader new_loader(Arena *arena)
{
    ModuleLoader ml = {.arena = arena};
    vec_push(&ml.search, "inc");
    vec_push(&ml.search, "models");
    return ml;
}

static const char *const_value(const Item *it)
{
    return it && it->kind == I_CONST && it->value->kind == E_STRING ? it->value->name : "?";
}

static void test_search_and_lookup(void)
{
    Arena arena = {0};
    ModuleLoader ml = new_loader(&arena);
    diag_reset();
    Module *m = module_load(&ml, "main.cssm");
    CHECK(m && diag_error_count() == 0);
    if (!m) return;
    CHECK(m->imports.len == 4);
    CHECK(!strcmp(m->imports.data[0]->path, "std.cssm"));      /* not models/std.cssm */
    CHECK(!strcmp(m->imports.data[3]->path, "inc/d.cssm"));    /* not models/d.cssm */
    CHECK(!strcmp(m->imports.data[1]->name, "a.b") && !strcmp(m->aliases.data[1], "ab"));
    CHECK(ml.loaded.len == 6);              /* main std a/b sub/c e2 d: std once */
    CHECK(m->imports.data[2]->imports.data[0] == m->imports.data[0]);
    CHECK(module_load(&ml, "./main.cssm") == m);
    Item *x = module_lookup(m, NULL, "x");
    CHECK(x && x->value->ival == 1);
    Item *y = module_lookup(m, NULL, "y");
    CHECK(y && y->value->ival == 5);                           /* own items first */
    CHECK(!module_lookup(m, NULL, "f"));                       /* aliased: not open */
    CHECK(module_lookup(m, "ab", "f") != NULL);
    CHECK(module_lookup(m, "std", "x") == x);                  /* unaliased by its name */
    CHECK(!strcmp(const_value(module_lookup(m, NULL, "q")), "deep"));   /* depth first */
    Item *k = module_lookup(m, NULL, "k");
    CHECK(k && k->value->ival == 1);
    CHECK(!module_lookup(m, NULL, "shadowed") && !module_lookup(m, "nope", "x"));
    vec_free(&ml.search);
    arena_free(&arena);
}

/* Runs module_load with stderr captured; returns the text. */
static char *load_capturing(const char *path, Module **out)
{
    fflush(stderr);
    FILE *tmp = tmpfile();
    int saved = dup(2);
    dup2(fileno(tmp), 2);
    Arena *arena = xcalloc(1, sizeof *arena);
    ModuleLoader ml = new_loader(arena);
    diag_reset();
    *out = module_load(&ml, path);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    long len = ftell(tmp);
    char *text = xcalloc(1, (size_t)len + 1);
    rewind(tmp);
    if (fread(text, 1, (size_t)len, tmp) != (size_t)len) die("cannot read captured stderr");
    fclose(tmp);
    vec_free(&ml.search);
    arena_free(arena);
    free(arena);
    return text;
}

static void expect_error(const char *root, const char *message, bool loads)
{
    Module *m;
    char *err = load_capturing(root, &m);
    if (!strstr(err, message) || diag_error_count() != 1 || (m != NULL) != loads) {
        fprintf(stderr, "loading %s: expected the one error\n  %s\ngot:\n%s", root, message, err);
        failures++;
    }
    free(err);
}

int main(void)
{
    char dir[] = "/tmp/cssm-modules-XXXXXX";
    if (!mkdtemp(dir) || chdir(dir) != 0) die("cannot make a temporary folder");
    make_tree();
    test_search_and_lookup();
    expect_error("cyc/a.cssm",
                 "cyc/b.cssm:1:1: error: import cycle: cyc/a.cssm -> cyc/b.cssm -> cyc/a.cssm\n",
                 true);
    expect_error("self.cssm", "self.cssm:1:1: error: import cycle: self.cssm -> self.cssm\n",
                 true);
    expect_error("missing.cssm",
                 "missing.cssm:1:1: error: cannot find nothere: no nothere.cssm in ., inc, "
                 "models\n",
                 true);
    expect_error("absent.cssm", "cssmc: error: cannot read absent.cssm: No such file", false);
    char *remove = xprintf("rm -rf '%s'", dir);
    if (system(remove) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(remove);
    printf("%d failures\n", failures);
    return failures ? 1 : 0;
}
