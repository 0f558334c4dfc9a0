/* resolve.c: modules, i.e. a file and the files it imports.
 *
 * module_load parses a file, then each of its imports in order, depth first.
 * An import is searched for in the importing file's folder, then in each
 * folder of ModuleLoader.search (the -I folders, then the installed models/
 * folder); the first file found wins. A file is identified by its canonical
 * path, so it is parsed once however it is reached and whichever name it is
 * imported by. An import that leads back to a file still being loaded is a
 * cycle, reported at that import with the whole chain; a missing import is
 * reported at the import with every place that was searched. Either way the
 * import is left out and loading carries on, so one run reports them all.
 *
 * Everything (modules, their vectors, source texts, trees) lives in the
 * loader's arena. module_lookup is a read-only walk that visits each module
 * once, so shared imports (diamonds) cost nothing extra. */
#include "ast.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The chain of files being loaded, innermost first: the cycle detector. */
typedef struct Loading {
    const Module *module;
    const struct Loading *up;
} Loading;

static Module *load(ModuleLoader *ml, const char *path, const char *real_path,
                    const char *name, const Loading *up);

/* The source file, copied into the arena so the whole module graph is freed
 * with it. NULL (errno set) when it cannot be read. */
static SrcFile *read_source(Arena *a, const char *path)
{
    SrcFile *heap = srcfile_load(path);
    if (!heap) return NULL;
    SrcFile *f = arena_alloc(a, sizeof *f);
    f->path = arena_strdup(a, path);
    char *text = arena_alloc(a, heap->len + 1);
    memcpy(text, heap->text, heap->len + 1);
    f->text = text;
    f->len = heap->len;
    free((char *)heap->text);
    free((char *)heap->path);
    free(heap);
    return f;
}

static bool is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* realpath, interned, or NULL. */
static const char *canonical(const char *path)
{
    char *real = realpath(path, NULL);
    if (!real) return NULL;
    const char *key = intern(real);
    free(real);
    return key;
}

static const char *folder_of(Arena *a, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) return ".";
    if (slash == path) return "/";
    return arena_strndup(a, path, (size_t)(slash - path));
}

static const char *join(Arena *a, const char *folder, const char *file)
{
    if (file[0] == '/' || !strcmp(folder, ".")) return arena_strdup(a, file);
    char *s = xprintf("%s%s%s", folder, folder[strlen(folder) - 1] == '/' ? "" : "/", file);
    const char *joined = arena_strdup(a, s);
    free(s);
    return joined;
}

/* The file an import names, relative to a search folder. */
static const char *import_file(Arena *a, const Item *imp)
{
    if (imp->is_string_path) return imp->path;
    char *s = xprintf("%s.cssm", imp->path);
    const char *file = arena_strdup(a, s);
    free(s);
    return file;
}

/* How the import is named in messages and in Module.name: "a.b" or the string. */
static const char *import_name(Arena *a, const Item *imp)
{
    if (imp->is_string_path) return imp->path;
    char *name = arena_strdup(a, imp->path);
    for (char *c = name; *c; c++)
        if (*c == '/') *c = '.';
    return name;
}

static void report_missing(Arena *a, const Item *imp, const char *file, const StrVec *searched)
{
    char *places = xstrdup("");
    for (int i = 0; i < searched->len; i++) {
        char *next = xprintf("%s%s%s", places, i ? ", " : "", searched->data[i]);
        free(places);
        places = next;
    }
    diag_error(imp->loc, "cannot find %s: no %s in %s", import_name(a, imp), file, places);
    free(places);
}

/* The first existing candidate: the importer's folder, then ml->search.
 * Absolute paths are looked up as they are. */
static const char *find_import(ModuleLoader *ml, const Module *importer, const Item *imp)
{
    const char *file = import_file(ml->arena, imp);
    StrVec searched = {0};
    if (file[0] == '/') {
        ast_push(ml->arena, &searched, file);
    } else {
        ast_push(ml->arena, &searched, folder_of(ml->arena, importer->path));
        for (int i = 0; i < ml->search.len; i++) ast_push(ml->arena, &searched, ml->search.data[i]);
    }
    for (int i = 0; i < searched.len; i++) {
        const char *candidate = file[0] == '/' ? file : join(ml->arena, searched.data[i], file);
        if (is_regular_file(candidate)) return candidate;
    }
    report_missing(ml->arena, imp, file, &searched);
    return NULL;
}

static bool report_cycle(const Item *imp, const char *real_path, const Loading *up)
{
    const Loading *first = up;
    while (first && first->module->real_path != real_path) first = first->up;
    if (!first) return false;
    /* The chain runs innermost first; the message reads outermost first. */
    char *chain = xstrdup(first->module->path);
    for (const Loading *l = first; l != up;) {
        const Loading *next = up;
        while (next->up != l) next = next->up;
        char *s = xprintf("%s -> %s", chain, next->module->path);
        free(chain);
        chain = s;
        l = next;
    }
    diag_error(imp->loc, "import cycle: %s -> %s", chain, first->module->path);
    free(chain);
    return true;
}

static Module *find_loaded(const ModuleLoader *ml, const char *real_path)
{
    for (int i = 0; i < ml->loaded.len; i++)
        if (ml->loaded.data[i]->real_path == real_path) return ml->loaded.data[i];
    return NULL;
}

static void load_import(ModuleLoader *ml, Module *m, const Item *imp, const Loading *chain)
{
    if (!imp->path || !imp->path[0]) return;    /* the parser reported the empty path */
    const char *path = find_import(ml, m, imp);
    if (!path) return;
    const char *real_path = canonical(path);
    if (!real_path) {
        diag_error(imp->loc, "cannot read %s: %s", path, strerror(errno));
        return;
    }
    if (report_cycle(imp, real_path, chain)) return;
    Module *dep = find_loaded(ml, real_path);
    if (!dep) dep = load(ml, path, real_path, import_name(ml->arena, imp), chain);
    if (!dep) {
        diag_error(imp->loc, "cannot read %s: %s", path, strerror(errno));
        return;
    }
    ast_push(ml->arena, &m->imports, dep);
    ast_push(ml->arena, &m->aliases, imp->name);
}

static Module *load(ModuleLoader *ml, const char *path, const char *real_path,
                    const char *name, const Loading *up)
{
    SrcFile *src = read_source(ml->arena, path);
    if (!src) return NULL;
    Module *m = arena_alloc(ml->arena, sizeof *m);
    m->name = name;
    m->path = src->path;
    m->real_path = real_path;
    m->prog = parse_file(src, ml->arena);
    ast_push(ml->arena, &ml->loaded, m);
    Loading here = {m, up};
    for (int i = 0; i < m->prog->items.len; i++)
        if (m->prog->items.data[i]->kind == I_IMPORT)
            load_import(ml, m, m->prog->items.data[i], &here);
    return m;
}

/* "models/std.cssm" is module "std". */
static const char *root_name(Arena *a, const char *path)
{
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t n = strlen(base);
    if (n > 5 && !strcmp(base + n - 5, ".cssm")) n -= 5;
    return arena_strndup(a, base, n);
}

Module *module_load(ModuleLoader *ml, const char *path)
{
    const char *real_path = canonical(path);
    Module *m = real_path ? find_loaded(ml, real_path) : NULL;
    if (m) return m;
    if (real_path) m = load(ml, path, real_path, root_name(ml->arena, path), NULL);
    if (!m) diag_error((Loc){0}, "cannot read %s: %s", path, strerror(errno));
    return m;
}

/* ---- lookup */

typedef Vec(const Module *) ModuleSet;

static bool visit(ModuleSet *seen, const Module *m)
{
    for (int i = 0; i < seen->len; i++)
        if (seen->data[i] == m) return false;
    vec_push(seen, m);
    return true;
}

static Item *own_item(const Module *m, const char *name)
{
    for (int i = 0; i < m->prog->items.len; i++) {
        Item *it = m->prog->items.data[i];
        if (it->kind != I_IMPORT && it->name && !strcmp(it->name, name)) return it;
    }
    return NULL;
}

/* m's own items, then, depth first, those of its imports without an alias. */
static Item *lookup_open(const Module *m, const char *name, ModuleSet *seen)
{
    if (!visit(seen, m)) return NULL;
    Item *it = own_item(m, name);
    for (int i = 0; !it && i < m->imports.len; i++)
        if (!m->aliases.data[i]) it = lookup_open(m->imports.data[i], name, seen);
    return it;
}

/* The import `qualifier` names: an alias, or else an import without one by
 * its own name (`import std` then `std.embed`). */
static const Module *qualified_import(const Module *m, const char *qualifier)
{
    for (int i = 0; i < m->imports.len; i++)
        if (m->aliases.data[i] && !strcmp(m->aliases.data[i], qualifier))
            return m->imports.data[i];
    for (int i = 0; i < m->imports.len; i++)
        if (!m->aliases.data[i] && !strcmp(m->imports.data[i]->name, qualifier))
            return m->imports.data[i];
    return NULL;
}

Item *module_lookup(const Module *m, const char *qualifier, const char *name)
{
    if (qualifier) m = qualified_import(m, qualifier);
    if (!m) return NULL;
    ModuleSet seen = {0};
    Item *it = lookup_open(m, name, &seen);
    vec_free(&seen);
    return it;
}
