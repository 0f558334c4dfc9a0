/* test_cache.c: SHA-256, cache keys, the cache directory and atomic entries.
 *
 * Checks SHA-256 against the FIPS 180-2 test vectors (one-shot and fed in
 * odd-sized pieces), that field boundaries and NULL are part of a key, where
 * the directory lands for each environment, and what an unusable one
 * reports. Entries round trip; absent and empty files are misses; and while
 * several processes keep rewriting one key with different contents, a reader
 * only ever sees no file or one writer's whole file, and no temp file is
 * left behind. Works in a private temp directory, removed at the end. */
#include "jit.h"
#include "base.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static char root[64];

static void hex_of(const void *data, size_t n, char hex[CSSM_KEY_LEN + 1])
{
    CssmHash h;
    cssm_hash_init(&h);
    cssm_hash_update(&h, data, n);
    cssm_hash_hex(&h, hex);
}

static void test_sha256_vectors(void)
{
    char hex[CSSM_KEY_LEN + 1];
    hex_of("", 0, hex);
    CHECK(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0);
    hex_of("abc", 3, hex);
    CHECK(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0);
    const char *two = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(two, strlen(two), hex);
    CHECK(strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1") == 0);
    /* 55, 56 and 64 bytes straddle the padding boundary. */
    char a64[64];
    memset(a64, 'a', sizeof a64);
    hex_of(a64, 55, hex);
    CHECK(strcmp(hex, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318") == 0);
    hex_of(a64, 56, hex);
    CHECK(strcmp(hex, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a") == 0);
    hex_of(a64, 64, hex);
    CHECK(strcmp(hex, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb") == 0);
}

static void test_sha256_pieces(void)
{
    /* A million 'a's, fed 1, 2, 3, ... bytes at a time. */
    char *million = xmalloc(1000000);
    memset(million, 'a', 1000000);
    CssmHash h;
    cssm_hash_init(&h);
    for (size_t done = 0, step = 1; done < 1000000; done += step, step = step % 97 + 1)
        cssm_hash_update(&h, million + done, MIN(step, 1000000 - done));
    char hex[CSSM_KEY_LEN + 1];
    cssm_hash_hex(&h, hex);
    CHECK(strcmp(hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0") == 0);
    free(million);
}

static void key_of(const char *const *fields, int n, char hex[CSSM_KEY_LEN + 1])
{
    CssmHash h;
    cssm_cache_key_begin(&h, "test");
    for (int i = 0; i < n; i++) cssm_hash_field(&h, fields[i]);
    cssm_hash_hex(&h, hex);
}

static void test_key_fields(void)
{
    char k1[CSSM_KEY_LEN + 1], k2[CSSM_KEY_LEN + 1], k3[CSSM_KEY_LEN + 1], k4[CSSM_KEY_LEN + 1];
    key_of((const char *[]){"ab", "c"}, 2, k1);
    key_of((const char *[]){"a", "bc"}, 2, k2);
    key_of((const char *[]){"ab", "c"}, 2, k3);
    CHECK(strcmp(k1, k2) != 0);
    CHECK(strcmp(k1, k3) == 0);
    CHECK(strlen(k1) == CSSM_KEY_LEN && strspn(k1, "0123456789abcdef") == CSSM_KEY_LEN);
    key_of((const char *[]){""}, 1, k1);
    key_of((const char *[]){NULL}, 1, k2);
    key_of((const char *[]){0}, 0, k4);
    CHECK(strcmp(k1, k2) != 0 && strcmp(k1, k4) != 0 && strcmp(k2, k4) != 0);
}

static void test_dir_location(void)
{
    char *xdg = xprintf("%s/xdg", root), *home = xprintf("%s/home", root);
    char *want_xdg = xprintf("%s/cssmc", xdg), *want_home = xprintf("%s/.cache/cssmc", home);
    char why[512];
    setenv("XDG_CACHE_HOME", xdg, 1);
    setenv("HOME", home, 1);
    char *dir = cssm_cache_dir(why, sizeof why);
    CHECK(dir && strcmp(dir, want_xdg) == 0);
    struct stat st;
    CHECK(stat(want_xdg, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 0777) == 0700);
    free(dir);
    setenv("XDG_CACHE_HOME", "relative/dir", 1);   /* ignored, as the XDG spec says */
    dir = cssm_cache_dir(why, sizeof why);
    CHECK(dir && strcmp(dir, want_home) == 0);
    free(dir);
    unsetenv("XDG_CACHE_HOME");
    dir = cssm_cache_dir(why, sizeof why);
    CHECK(dir && strcmp(dir, want_home) == 0);
    free(dir), free(xdg), free(home), free(want_xdg), free(want_home);
}

static void test_dir_unusable(void)
{
    char *file = xprintf("%s/plainfile", root);
    FILE *f = fopen(file, "w");
    fclose(f);
    setenv("XDG_CACHE_HOME", file, 1);   /* a file where a directory must go */
    char why[512] = "";
    char *dir = cssm_cache_dir(why, sizeof why);
    CHECK(dir == NULL);
    CHECK(strstr(why, "cache: cannot create directory") && strstr(why, file));
    CHECK(cssm_cache_path("k", "x") == NULL);
    CHECK(cssm_cache_write("k", "x", "data", 4, why, sizeof why) == -1);
    unsetenv("XDG_CACHE_HOME");
    unsetenv("HOME");
    dir = cssm_cache_dir(why, sizeof why);
    CHECK(dir == NULL && strstr(why, "neither XDG_CACHE_HOME nor HOME"));
    free(file);
}

static int count_temp_files(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(d));) n += strncmp(e->d_name, ".tmp.", 5) == 0;
    closedir(d);
    return n;
}

static void test_read_write(void)
{
    char *xdg = xprintf("%s/rw", root);
    setenv("XDG_CACHE_HOME", xdg, 1);
    char why[512];
    void *data = NULL;
    size_t size = 0;
    CHECK(!cssm_cache_read("k1", "bin", &data, &size));
    CHECK(cssm_cache_write("k1", "bin", "hello\0world", 11, why, sizeof why) == 0);
    CHECK(cssm_cache_read("k1", "bin", &data, &size) && size == 11 &&
          memcmp(data, "hello\0world", 11) == 0);
    free(data);
    CHECK(!cssm_cache_read("k1", "other", &data, &size));
    CHECK(cssm_cache_write("k2", "bin", "", 0, why, sizeof why) == 0);
    CHECK(!cssm_cache_read("k2", "bin", &data, &size));   /* empty counts as absent */
    char *path = cssm_cache_path("k1", "bin");
    char *want = xprintf("%s/cssmc/k1.bin", xdg);
    CHECK(path && strcmp(path, want) == 0);
    char *tmp = cssm_cache_temp("k3", "so", why, sizeof why);
    FILE *f = fopen(tmp, "w");
    fputs("built", f);
    fclose(f);
    CHECK(cssm_cache_install(tmp, "k3", "so", why, sizeof why) == 0);
    CHECK(access(tmp, F_OK) != 0);
    CHECK(cssm_cache_read("k3", "so", &data, &size) && size == 5);
    free(data);
    char *dir = xprintf("%s/cssmc", xdg);
    CHECK(count_temp_files(dir) == 0);
    free(dir), free(tmp), free(path), free(want), free(xdg);
}

enum { WRITERS = 4, ROUNDS = 40, ENTRY = 1 << 20 };

/* Each writer fills the entry with its own byte, so a torn file shows up as
 * a mix of bytes or a short length. */
static void writer(int id)
{
    unsigned char *buf = xmalloc(ENTRY);
    memset(buf, 'A' + id, ENTRY);
    char why[512];
    for (int r = 0; r < ROUNDS; r++)
        if (cssm_cache_write("shared", "bin", buf, ENTRY, why, sizeof why) < 0) _exit(1);
    _exit(0);
}

static bool entry_is_whole(const unsigned char *data, size_t size)
{
    if (size != ENTRY || data[0] < 'A' || data[0] >= 'A' + WRITERS) return false;
    for (size_t i = 1; i < size; i++)
        if (data[i] != data[0]) return false;
    return true;
}

static void test_concurrent_writers(void)
{
    char *xdg = xprintf("%s/concurrent", root);
    setenv("XDG_CACHE_HOME", xdg, 1);
    pid_t pids[WRITERS];
    for (int i = 0; i < WRITERS; i++)
        if ((pids[i] = fork()) == 0) writer(i);
    int reads = 0, torn = 0, running = WRITERS;
    while (running > 0) {
        void *data;
        size_t size;
        if (cssm_cache_read("shared", "bin", &data, &size)) {
            reads++;
            torn += !entry_is_whole(data, size);
            free(data);
        }
        int status;
        pid_t done = waitpid(-1, &status, WNOHANG);
        if (done > 0) {
            running--;
            CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        }
    }
    printf("concurrent writers: %d reads, %d torn\n", reads, torn);
    CHECK(torn == 0);
    void *data;
    size_t size;
    CHECK(cssm_cache_read("shared", "bin", &data, &size) && entry_is_whole(data, size));
    free(data);
    char *dir = xprintf("%s/cssmc", xdg);
    CHECK(count_temp_files(dir) == 0);
    free(dir), free(xdg);
}

int main(void)
{
    snprintf(root, sizeof root, "/tmp/cssm-test-cache-XXXXXX");
    if (!mkdtemp(root)) die("mkdtemp failed");
    test_sha256_vectors();
    test_sha256_pieces();
    test_key_fields();
    test_dir_location();
    test_dir_unusable();
    test_read_write();
    test_concurrent_writers();
    char *rm = xprintf("rm -rf '%s'", root);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", root);
    free(rm);
    if (failures) fprintf(stderr, "%d check(s) failed\n", failures);
    else printf("cache: all checks passed\n");
    return failures ? 1 : 0;
}
