/* test_npy.c: the .npy reader and writer.
 *
 * Round trips every supported dtype and 0-D to 4-D shapes, reads hand-made
 * v2 and v3 headers, refuses Fortran order, big-endian and cut files with a
 * message naming the file, and reads every real PathTracker video in
 * $CSSM_ROOT/../shared/data/pathtracker-real (shape (64,32,32,3), |u1),
 * checking that writing one back reproduces the file byte for byte (so the
 * writer's header is NumPy's). Exits 77 after the synthetic checks pass if
 * the real data is absent. */
#include "formats.h"
#include "base.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static char dir[256];

static uint8_t *slurp(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *b = xmalloc(*n + 1);
    *n = fread(b, 1, *n, fp);
    fclose(fp);
    return b;
}

static void spit(const char *path, const void *b, size_t n)
{
    FILE *fp = fopen(path, "wb");
    fwrite(b, 1, n, fp);
    fclose(fp);
}

static void test_round_trip(const char *dtype, int ndim, const int64_t *shape)
{
    char path[300], err[256];
    snprintf(path, sizeof path, "%s/a.npy", dir);
    size_t n = npy_itemsize(dtype);
    for (int i = 0; i < ndim; i++) n *= (size_t)shape[i];
    uint8_t *data = xmalloc(n + 1);
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 7 + 1);
    if (!strcmp(dtype, "|b1"))
        for (size_t i = 0; i < n; i++) data[i] &= 1;
    CHECK(npy_write(path, dtype, ndim, shape, data, err, sizeof err) == 0);
    size_t fn;
    uint8_t *file = slurp(path, &fn);
    CHECK(file && (fn - n) % 64 == 0 && file[fn - n - 1] == '\n');   /* data 64-byte aligned */
    free(file);
    NpyArray a;
    CHECK(npy_read(path, &a, err, sizeof err) == 0);
    CHECK(!strcmp(a.dtype, dtype) && a.ndim == ndim && a.nbytes == n && !memcmp(a.data, data, n));
    for (int i = 0; i < ndim; i++) CHECK(a.shape[i] == shape[i]);
    npy_free(&a);
    free(data);
}

static void test_round_trips(void)
{
    int64_t s4[4] = {3, 4, 5, 3}, s1[1] = {7}, s2[2] = {2, 9}, s0[1] = {0};
    const char *dtypes[] = {"|u1", "|i1", "|b1", "<u2", "<i2", "<f4", "<i4", "<u4", "<f8", "<i8", "<u8"};
    for (size_t i = 0; i < COUNT_OF(dtypes); i++) test_round_trip(dtypes[i], 4, s4);
    test_round_trip("<f4", 1, s1);
    test_round_trip("<i8", 2, s2);
    test_round_trip("|u1", 0, NULL);
    test_round_trip("<f4", 1, s0);
    char err[256], path[300];
    snprintf(path, sizeof path, "%s/x.npy", dir);
    CHECK(npy_write(path, ">f4", 1, s1, "", err, sizeof err) == -1);
}

/* A header of the given version with the given dict, then `data` bytes. */
static void write_raw(const char *path, int major, const char *dict, size_t data)
{
    char buf[512];
    size_t pre = major == 1 ? 10 : 12, hl = strlen(dict);
    memcpy(buf, "\x93NUMPY", 6);
    buf[6] = (char)major;
    buf[7] = 0;
    buf[8] = (char)hl;
    buf[9] = buf[10] = buf[11] = 0;
    memcpy(buf + pre, dict, hl);
    memset(buf + pre + hl, 5, data);
    spit(path, buf, pre + hl + data);
}

static void test_headers(void)
{
    char path[300], err[256];
    NpyArray a;
    snprintf(path, sizeof path, "%s/h.npy", dir);
    write_raw(path, 2, "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 2), }\n", 12);
    CHECK(npy_read(path, &a, err, sizeof err) == 0 && a.ndim == 2 && a.shape[1] == 2 && a.nbytes == 12);
    npy_free(&a);
    write_raw(path, 3, "{\"descr\": \"|u1\", \"fortran_order\": False, \"shape\": (4,)}\n", 4);
    CHECK(npy_read(path, &a, err, sizeof err) == 0 && a.ndim == 1 && a.shape[0] == 4);
    npy_free(&a);
    write_raw(path, 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }\n", 16);
    CHECK(npy_read(path, &a, err, sizeof err) == -1 && strstr(err, "Fortran") && strstr(err, path));
    write_raw(path, 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (2,), }\n", 8);
    CHECK(npy_read(path, &a, err, sizeof err) == -1 && strstr(err, "dtype '>f4'"));
    write_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 15);
    CHECK(npy_read(path, &a, err, sizeof err) == -1 && strstr(err, "truncated (15 of 16"));
    write_raw(path, 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 2), }\n", 17);
    CHECK(npy_read(path, &a, err, sizeof err) == -1 && strstr(err, "after the"));
    write_raw(path, 1, "{'descr': '<f4', 'shape': (2, 2), }\n", 16);
    CHECK(npy_read(path, &a, err, sizeof err) == -1 && strstr(err, "malformed"));
    spit(path, "NUMPY", 5);
    CHECK(npy_read(path, &a, err, sizeof err) == -1 && strstr(err, "bad magic"));
    CHECK(npy_read_header("/nonexistent.npy", &a, err, sizeof err) == -1 && strstr(err, "/nonexistent.npy"));
}

/* Every real video reads with the documented shape, and writing it back
 * gives the same bytes. Returns the number of files read. */
static int test_real_files(const char *root)
{
    int count = 0;
    for (int label = 0; label < 2; label++) {
        char *sub = xprintf("%s/%d", root, label);
        DIR *d = opendir(sub);
        struct dirent *e;
        while (d && (e = readdir(d))) {
            if (!strstr(e->d_name, ".npy")) continue;
            char *path = xprintf("%s/%s", sub, e->d_name), err[256], out[300];
            NpyArray a;
            CHECK(npy_read(path, &a, err, sizeof err) == 0);
            CHECK(!strcmp(a.dtype, "|u1") && a.ndim == 4 && a.shape[0] == 64 && a.shape[1] == 32 &&
                  a.shape[2] == 32 && a.shape[3] == 3 && a.nbytes == 196608);
            snprintf(out, sizeof out, "%s/copy.npy", dir);
            CHECK(npy_write(out, a.dtype, a.ndim, a.shape, a.data, err, sizeof err) == 0);
            size_t n1, n2;
            uint8_t *b1 = slurp(path, &n1), *b2 = slurp(out, &n2);
            CHECK(n1 == 196736 && n1 == n2 && !memcmp(b1, b2, n1));
            free(b1);
            free(b2);
            npy_free(&a);
            free(path);
            count++;
        }
        if (d) closedir(d);
        free(sub);
    }
    return count;
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cssm_test_npy_XXXXXX");
    if (!mkdtemp(dir)) die("cannot create a temporary folder");
    test_round_trips();
    test_headers();
    const char *root = getenv("CSSM_ROOT") ? getenv("CSSM_ROOT") : ".";
    char *real = xprintf("%s/../shared/data/pathtracker-real", root);
    int n = test_real_files(real);
    if (n && n != 13) {
        failures++;
        fprintf(stderr, "expected 13 real videos in %s, found %d\n", real, n);
    }
    char *cmd = xprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    if (failures) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    if (n == 0) {
        printf("synthetic checks passed\nskipped: no real PathTracker videos in %s\n", real);
        return 77;
    }
    printf("read %d real videos from %s\n", n, real);
    free(real);
    return 0;
}
