/* hostcc.c: C source to a loaded shared object, with the host C compiler.
 *
 * This is how the CPU backend runs the compiler's plain-C rendering of its
 * kernels: the source is compiled with `cc -O3 -march=native -fopenmp
 * -fno-math-errno -shared -fPIC`, linked with glibc's vector math library
 * where it has one (the compiler is $CSSMC_CC if set, split on blanks), the
 * result is dlopen'd, and its functions are looked up by name. The shared
 * object is a cache entry: its key covers the source, the name, the
 * compiler's command and `--version` line, the flags, and the host CPU (since
 * -march=native makes the code CPU-specific and a home directory may be
 * shared between machines). A later process with the same inputs dlopens
 * the cached file and runs no compiler. The compiler writes to a temp file
 * that is renamed into place, so no process ever dlopens a half-written
 * object; an entry that fails to load is compiled again. */
#define _GNU_SOURCE
#include "jit.h"
#include "base.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* -fno-math-errno: nothing reads errno, and math calls that may set it do
 * not vectorise. */
static const char *const host_flags[] = {"-O3", "-march=native", "-fopenmp", "-fno-math-errno", "-shared", "-fPIC"};

bool cssm_hostcc_vector_math(void)
{
#if defined __x86_64__ && defined __GLIBC__ && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 35)
    return true;
#else
    return false;
#endif
}

struct CssmHostLib {
    void *dl;
    char *path;
};

/* Hands msg to the caller through *log (or drops it if log is NULL). */
static void set_log(char **log, char *msg)
{
    if (log) {
        free(*log);
        *log = msg;
    } else free(msg);
}

/* ---- running the compiler ---------------------------------------------- */

static char *read_fd_to_string(int fd)
{
    size_t len = 0, cap = 4096;
    char *buf = xmalloc(cap);
    for (;;) {
        if (len + 1 == cap) buf = xrealloc(buf, cap *= 2);
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) break;
        len += (size_t)r;
    }
    buf[len] = 0;
    return buf;
}

static pid_t spawn_with_output(char *const *argv, int out_fd)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawn_file_actions_adddup2(&fa, out_fd, 2);
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (err) errno = err;
    return err ? -1 : pid;
}

/* Runs argv with stdout and stderr captured together in *output. -1 (errno
 * set) if it could not be started; else 0 with the wait status. */
static int run_capture(char *const *argv, char **output, int *status)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0) return -1;
    pid_t pid = spawn_with_output(argv, fds[1]);
    int err = errno;
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        errno = err;
        return -1;
    }
    *output = read_fd_to_string(fds[0]);
    close(fds[0]);
    while (waitpid(pid, status, 0) < 0 && errno == EINTR) {}
    return 0;
}

static void describe_status(int status, char *buf, size_t n)
{
    if (WIFEXITED(status)) snprintf(buf, n, "exited with status %d", WEXITSTATUS(status));
    else if (WIFSIGNALED(status)) snprintf(buf, n, "was killed by signal %d", WTERMSIG(status));
    else snprintf(buf, n, "failed");
}

/* ---- the compiler and the machine -------------------------------------- */

typedef Vec(char *) ArgList;

/* $CSSMC_CC split on blanks ("gcc-12", "clang -fno-slp-vectorize"), or cc. */
static ArgList compiler_command(void)
{
    ArgList args = {0};
    const char *cc = getenv("CSSMC_CC");
    char *copy = xstrdup(cc && strspn(cc, " \t") < strlen(cc) ? cc : "cc");
    for (char *save, *tok = strtok_r(copy, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save))
        vec_push(&args, xstrdup(tok));
    free(copy);
    return args;
}

static void free_args(ArgList *args)
{
    for (int i = 0; i < args->len; i++) free(args->data[i]);
    vec_free(args);
}

static char *join_args(const ArgList *args)
{
    char *s = xstrdup("");
    for (int i = 0; i < args->len; i++) {
        char *t = xprintf("%s%s%s", s, i ? " " : "", args->data[i]);
        free(s);
        s = t;
    }
    return s;
}

/* The first line of `CC --version`, or NULL with *log set. */
static char *query_compiler_version(const ArgList *cc, char **log)
{
    ArgList argv = {0};
    for (int i = 0; i < cc->len; i++) vec_push(&argv, cc->data[i]);
    vec_push(&argv, "--version");
    vec_push(&argv, NULL);
    char *out = NULL, how[64];
    int status;
    char *version = NULL;
    if (run_capture(argv.data, &out, &status) < 0)
        set_log(log, xprintf("hostcc: cannot run the C compiler '%s': %s (install one or set "
                             "CSSMC_CC)", cc->data[0], strerror(errno)));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        describe_status(status, how, sizeof how);
        set_log(log, xprintf("hostcc: '%s --version' %s: %s", cc->data[0], how, out));
    } else version = xstrndup(out, strcspn(out, "\n"));
    free(out);
    vec_free(&argv);
    return version;
}

/* Memoized per command, since running the compiler costs milliseconds. */
static char *compiler_version(const ArgList *cc, char **log)
{
    static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    static char *known_cmd, *known_version;
    char *cmd = join_args(cc), *version = NULL;
    pthread_mutex_lock(&lock);
    if (known_cmd && strcmp(known_cmd, cmd) == 0) version = xstrdup(known_version);
    else if ((version = query_compiler_version(cc, log))) {
        free(known_cmd), free(known_version);
        known_cmd = xstrdup(cmd), known_version = xstrdup(version);
    }
    pthread_mutex_unlock(&lock);
    free(cmd);
    return version;
}

/* The first "model name" and "flags" lines of /proc/cpuinfo: what
 * -march=native looks at. Empty where there is no /proc/cpuinfo. */
static char cpu_identity[8192];
static void read_cpu_identity(void)
{
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[8192];
    bool have_model = false, have_flags = false;
    while ((!have_model || !have_flags) && fgets(line, sizeof line, f)) {
        bool model = !have_model && strncmp(line, "model name", 10) == 0;
        bool flags = !have_flags && strncmp(line, "flags", 5) == 0;
        if (!model && !flags) continue;
        size_t used = strlen(cpu_identity);
        snprintf(cpu_identity + used, sizeof cpu_identity - used, "%s", line);
        have_model |= model, have_flags |= flags;
    }
    fclose(f);
}

static const char *host_cpu(void)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, read_cpu_identity);
    return cpu_identity;
}

/* ---- compiling into the cache ------------------------------------------ */

static void so_key(const ArgList *cc, const char *version, const char *src, const char *name,
                   char key[CSSM_KEY_LEN + 1])
{
    CssmHash h;
    cssm_cache_key_begin(&h, "so");
    for (int i = 0; i < cc->len; i++) cssm_hash_field(&h, cc->data[i]);
    cssm_hash_field(&h, version);
    for (size_t i = 0; i < COUNT_OF(host_flags); i++) cssm_hash_field(&h, host_flags[i]);
    cssm_hash_field(&h, host_cpu());
    cssm_hash_field(&h, name);
    cssm_hash_field(&h, src);
    cssm_hash_hex(&h, key);
}

/* cc FLAGS -o TMP SOURCE [-lmvec] -lm */
static int run_compiler(const ArgList *cc, const char *tmp, const char *c_path,
                        const char *name, char **log)
{
    ArgList argv = {0};
    for (int i = 0; i < cc->len; i++) vec_push(&argv, cc->data[i]);
    for (size_t i = 0; i < COUNT_OF(host_flags); i++) vec_push(&argv, (char *)host_flags[i]);
    char *tail[] = {"-o", (char *)tmp, (char *)c_path};
    for (size_t i = 0; i < COUNT_OF(tail); i++) vec_push(&argv, tail[i]);
    if (cssm_hostcc_vector_math()) vec_push(&argv, "-lmvec");
    vec_push(&argv, "-lm");
    vec_push(&argv, NULL);
    char *out = NULL, how[64];
    int status, rc = -1;
    cssm_counter_add(CSSM_CTR_HOST_COMPILES, 1);
    if (run_capture(argv.data, &out, &status) < 0)
        set_log(log, xprintf("hostcc: cannot run the C compiler '%s': %s", cc->data[0],
                             strerror(errno)));
    else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        describe_status(status, how, sizeof how);
        set_log(log, xprintf("hostcc: '%s' failed to compile (%s %s):\n%s", name, cc->data[0],
                             how, out));
    } else {
        if (out[0]) set_log(log, xstrdup(out));
        rc = 0;
    }
    free(out);
    vec_free(&argv);
    return rc;
}

/* Writes KEY.c, compiles it to a temp file and renames that to KEY.so. */
static int compile_into_cache(const ArgList *cc, const char *src, const char *name,
                              const char *key, char **log)
{
    char why[1024];
    if (cssm_cache_write(key, "c", src, strlen(src), why, sizeof why) < 0) {
        set_log(log, xprintf("hostcc: '%s': %s", name, why));
        return -1;
    }
    char *tmp = cssm_cache_temp(key, "so", why, sizeof why);
    char *c_path = cssm_cache_path(key, "c");
    int rc = -1;
    if (!tmp || !c_path) set_log(log, xprintf("hostcc: '%s': %s", name, why));
    else if (run_compiler(cc, tmp, c_path, name, log) < 0) unlink(tmp);
    else if (cssm_cache_install(tmp, key, "so", why, sizeof why) < 0)
        set_log(log, xprintf("hostcc: '%s': %s", name, why));
    else rc = 0;
    free(tmp);
    free(c_path);
    return rc;
}

/* RTLD_NODELETE: the object and the OpenMP runtime it pulled in stay mapped
 * after cssm_hostcc_close, since OpenMP's idle worker threads live on inside
 * libgomp and would crash if it were unmapped under them. */
static CssmHostLib *open_lib(const char *path)
{
    void *dl = dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
    if (!dl) return NULL;
    CssmHostLib *lib = xcalloc(1, sizeof *lib);
    lib->dl = dl;
    lib->path = xstrdup(path);
    return lib;
}

/* Cached object first; compile when it is missing or does not load. */
static CssmHostLib *load_or_compile(const ArgList *cc, const char *src, const char *name,
                                    const char *key, const char *so_path, char **log)
{
    CssmHostLib *lib = open_lib(so_path);
    if (lib) {
        cssm_counter_add(CSSM_CTR_CACHE_HITS, 1);
        return lib;
    }
    if (compile_into_cache(cc, src, name, key, log) < 0) return NULL;
    if (!(lib = open_lib(so_path)))
        set_log(log, xprintf("hostcc: '%s': loading %s failed: %s", name, so_path, dlerror()));
    return lib;
}

CssmHostLib *cssm_hostcc_load(const char *src, const char *name, char **log)
{
    if (log) *log = NULL;
    char why[1024], key[CSSM_KEY_LEN + 1];
    char *dir = cssm_cache_dir(why, sizeof why);
    if (!dir) {
        set_log(log, xprintf("hostcc: '%s': %s", name, why));
        return NULL;
    }
    ArgList cc = compiler_command();
    char *version = compiler_version(&cc, log);
    CssmHostLib *lib = NULL;
    if (version) {
        so_key(&cc, version, src, name, key);
        char *so_path = xprintf("%s/%s.so", dir, key);
        lib = load_or_compile(&cc, src, name, key, so_path, log);
        free(so_path);
    }
    free(version);
    free_args(&cc);
    free(dir);
    return lib;
}

void *cssm_hostcc_sym(CssmHostLib *lib, const char *sym)
{
    return dlsym(lib->dl, sym);
}

const char *cssm_hostcc_path(const CssmHostLib *lib) { return lib->path; }

void cssm_hostcc_close(CssmHostLib *lib)
{
    if (!lib) return;
    dlclose(lib->dl);
    free(lib->path);
    free(lib);
}
