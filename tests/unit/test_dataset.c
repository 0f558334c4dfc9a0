/* test_dataset.c: dataset adapters, writers, splits and the loader.
 *
 * The building blocks are checked against vectors computed with numpy 2.4
 * and Pillow 13 (CRC-32 of the outputs for inputs made by img() below, the
 * same formula in both): numpy's legacy RandomState permutation, Pillow's
 * BILINEAR resize and L conversion, the float32 normalisations and
 * round(linspace) frame indices; TensorFlow's resize by hand-worked values.
 * Then every schema is written (through the writers, or npy_write and
 * png_write8 for the native folders), opened and read back, checking the
 * split rules, the sizes, the normalisation, frame subsampling and resizing
 * against direct computations, metadata.json cross-checks, corrupt and cut
 * files (the error names the file and record; skip_bad counts them), and
 * the loader: drop-last batching, one permutation per epoch, determinism
 * across worker counts, and exact resumption with loader_seek. The real
 * PathTracker videos are read through the .npy adapter when present. */
#include "dataset.h"
#include "base.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static int failures;
#define CHECK(c) do { if (!(c)) { failures++; fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #c); } } while (0)

static char dir[256];

static uint8_t *img(int h, int w, int c, int seed)
{
    uint8_t *a = xmalloc((size_t)h * w * c);
    for (int y = 0; y < h; y++)
        for (int x = 0; x < w; x++)
            for (int ch = 0; ch < c; ch++)
                a[(y * w + x) * c + ch] = (uint8_t)((y * y * 7 + x * 13 + ch * 101 + seed * 29 + (x * y) % 17) % 256);
    return a;
}

static uint32_t crc(const void *p, size_t n) { return (uint32_t)crc32(0, p, (uInt)n); }

static char *tmp_path(const char *name) { return xprintf("%s/%s", dir, name); }

/* ---- building blocks ---- */

static void test_permutation(void)
{
    int64_t p[10], want[10] = {8, 1, 5, 0, 7, 2, 9, 4, 3, 6};
    np_legacy_permutation(42, 10, p);
    CHECK(!memcmp(p, want, sizeof want));
    int64_t *q = xmalloc(sizeof(int64_t) * 100003);
    np_legacy_permutation(42, 1000, q);
    CHECK(crc(q, 8000) == 0x84bf0b2au && q[0] == 521 && q[1] == 737);
    np_legacy_permutation(7, 100003, q);
    CHECK(crc(q, 8 * 100003) == 0x6cd08059u);
    free(q);
}

static void test_pillow(void)
{
    static const struct { int h, w, c, oh, ow, seed; uint32_t crc; } cases[] = {
        {300, 300, 1, 128, 128, 1, 0x0ae04863u}, {300, 300, 1, 32, 32, 2, 0x683fa6d1u},
        {32, 32, 3, 24, 24, 3, 0xd0e6b6ecu},     {32, 32, 3, 48, 40, 4, 0xf98cdd4fu},
        {17, 23, 1, 5, 9, 5, 0xc8f57260u},
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        uint8_t *a = img(cases[i].h, cases[i].w, cases[i].c, cases[i].seed);
        size_t n = (size_t)cases[i].oh * cases[i].ow * cases[i].c;
        uint8_t *o = xmalloc(n);
        resize_pillow_bilinear(a, cases[i].h, cases[i].w, cases[i].c, o, cases[i].oh, cases[i].ow);
        CHECK(crc(o, n) == cases[i].crc);
        free(a);
        free(o);
    }
    uint8_t *a = img(20, 30, 3, 6), g[600];
    rgb_to_gray_pillow(a, 600, g);
    CHECK(crc(g, 600) == 0x1193e459u);
    free(a);
}

static void test_normalise_and_frames(void)
{
    uint8_t u[768];
    float f[768];
    for (int i = 0; i < 768; i++) u[i] = (uint8_t)(i / 3);
    normalize_imagenet_u8(u, 256, f);
    CHECK(crc(f, sizeof f) == 0xeb0e7c20u);
    normalize_signed_u8(u, 768, f);
    CHECK(crc(f, sizeof f) == 0xcdbc2ae1u);
    static const struct { int F, T, idx[8]; } cases[] = {
        {64, 8, {0, 9, 18, 27, 36, 45, 54, 63}}, {32, 7, {0, 5, 10, 16, 21, 26, 31}},
        {64, 5, {0, 16, 32, 47, 63}},            {64, 1, {0}},
        {10, 4, {0, 3, 6, 9}},                   {6, 3, {0, 2, 5}},
    };
    for (size_t i = 0; i < COUNT_OF(cases); i++) {
        int idx[8];
        frame_indices(cases[i].F, cases[i].T, idx);
        CHECK(!memcmp(idx, cases[i].idx, sizeof(int) * (size_t)cases[i].T));
    }
    int idx[32];
    frame_indices(64, 32, idx);
    CHECK(idx[15] == 30 && idx[16] == 33 && idx[31] == 63);
}

static void test_tf_resize(void)
{
    float in[2] = {0, 4}, out[4], in4[4] = {10, 11, 12, 13}, out2[2];
    resize_tf_bilinear(in, 1, 2, 1, out, 1, 4);
    CHECK(out[0] == 0 && out[1] == 1 && out[2] == 3 && out[3] == 4);
    resize_tf_nearest(in4, 1, 4, 1, out2, 1, 2);
    CHECK(out2[0] == 11 && out2[1] == 13);
    resize_tf_nearest(in, 1, 2, 1, out, 1, 4);
    CHECK(out[0] == 0 && out[1] == 0 && out[2] == 4 && out[3] == 4);
}

static void test_metadata(void)
{
    char *path = tmp_path("meta.json"), err[256];
    Meta m = {0};
    meta_set(&m, "difficulty", "14", 1);
    meta_set_int(&m, "image_size", 128);
    meta_set_double(&m, "train_ratio", 0.8);
    meta_set_double(&m, "one", 1.0);
    CHECK(meta_write(path, &m, err, sizeof err) == 0);
    meta_free(&m);
    FILE *fp = fopen(path, "r");
    char text[256] = {0};
    CHECK(fp && fread(text, 1, sizeof text - 1, fp) > 0);
    if (fp) fclose(fp);
    CHECK(!strcmp(text, "{\n  \"difficulty\": \"14\",\n  \"image_size\": 128,\n  \"train_ratio\": 0.8,\n  \"one\": 1.0\n}"));
    int64_t v;
    CHECK(meta_read(path, &m, err, sizeof err) == 1 && !meta_get_int(&m, "image_size", &v) && v == 128);
    CHECK(!strcmp(meta_get(&m, "difficulty"), "14") && meta_get_int(&m, "difficulty", &v) == 0 && v == 14);
    CHECK(meta_get(&m, "nope") == NULL);
    meta_free(&m);
    fp = fopen(path, "w");
    fputs("{\"a\": [1, 2], \"b\": {\"c\": 1}, \"d\": \"x\\\"y\"}", fp);
    fclose(fp);
    CHECK(meta_read(path, &m, err, sizeof err) == 1 && !strcmp(meta_get(&m, "d"), "x\"y") && meta_get(&m, "b"));
    meta_free(&m);
    fp = fopen(path, "w");
    fputs("{\"a\": 1,", fp);
    fclose(fp);
    CHECK(meta_read(path, &m, err, sizeof err) == -1 && strstr(err, "meta.json"));
    free(path);
    path = tmp_path("absent.json");
    CHECK(meta_read(path, &m, err, sizeof err) == 0);
    free(path);
}

/* ---- writing and reading every schema ---- */

/* Sample i of a synthetic set: pixel values that identify it. */
static uint8_t pixel_of(int i, size_t k) { return (uint8_t)(i * 7 + k * 3 + (k / 5)); }

static Dataset *open_ds(const char *path, DataSchema schema, int frames, int size)
{
    DatasetOptions o;
    dataset_options_init(&o);
    o.schema = schema;
    o.frames = frames;
    o.image_size = size;
    char err[256];
    Dataset *d = dataset_open(path, &o, err, sizeof err);
    if (!d) fprintf(stderr, "note: dataset_open refused (some checks expect it): %s\n", err);
    return d;
}

/* The sample index a read sample came from, by matching against all n. */
static int identify(const float *x, const float *refs, size_t floats, int n)
{
    for (int i = 0; i < n; i++)
        if (!memcmp(x, refs + (size_t)i * floats, floats * sizeof(float))) return i;
    return -1;
}

static void test_pathfinder_tfrecords(void)
{
    enum { N = 50, S = 6 };
    size_t fl = S * S * 3;
    float *images = xmalloc(sizeof(float) * fl * N);
    int64_t labels[N];
    for (int i = 0; i < N; i++) {
        uint8_t g[S * S];
        for (int k = 0; k < S * S; k++) g[k] = pixel_of(i, (size_t)k);
        normalize_imagenet_gray(g, S * S, images + (size_t)i * fl);
        labels[i] = i % 3 == 0;
    }
    char *path = tmp_path("pf"), err[256];
    CHECK(write_pathfinder_tfrecords(path, images, labels, N, S, S, 16, err, sizeof err) == 0);
    Dataset *d = open_ds(path, SCHEMA_AUTO, 3, 0);
    CHECK(d != NULL);
    if (!d) return;
    const DatasetInfo *in = dataset_info(d);
    CHECK(in->schema == SCHEMA_PATHFINDER && in->stored_height == S && in->frames == 3 && in->eval_split == SPLIT_VAL);
    CHECK(in->count[SPLIT_TRAIN] == 40 && in->count[SPLIT_VAL] == 5 && in->count[SPLIT_TEST] == 5);
    /* Members of each split, in the seed-42 permutation's order. */
    Split plan[N];
    int64_t perm[N];
    split_plan_ratio(N, 42, 0.8, 0.1, plan);
    np_legacy_permutation(42, N, perm);
    DatasetReader *r = dataset_reader_new(d);
    float x[3 * S * S * 3];
    int32_t y;
    for (int s = 0; s < SPLIT_COUNT; s++) {
        int64_t k = 0;
        for (int rank = 0; rank < N; rank++) {
            int i = (int)perm[rank];
            if (plan[i] != (Split)s) continue;
            CHECK(dataset_read(r, (Split)s, k, x, &y, err, sizeof err) == 0);
            CHECK(identify(x, images, fl, N) == i && y == labels[i]);
            CHECK(!memcmp(x, x + fl, fl * sizeof(float)) && !memcmp(x, x + 2 * fl, fl * sizeof(float)));
            k++;
        }
    }
    dataset_reader_free(r);
    dataset_close(d);
    Meta m;
    int64_t v;
    char *mp = tmp_path("pf/metadata.json");
    CHECK(meta_read(mp, &m, err, sizeof err) == 1 && !meta_get_int(&m, "train_shards", &v) && v == 3);
    CHECK(!meta_get_int(&m, "val_samples", &v) && v == 5 && !meta_get_int(&m, "image_size", &v) && v == S);
    /* A wrong image_size in metadata.json is caught. */
    meta_set_int(&m, "image_size", 7);
    CHECK(meta_write(mp, &m, err, sizeof err) == 0);
    DatasetOptions o;
    dataset_options_init(&o);
    CHECK(dataset_open(path, &o, err, sizeof err) == NULL && strstr(err, "metadata.json") && strstr(err, "image_size"));
    meta_set_int(&m, "image_size", S);
    meta_set_int(&m, "test_samples", 6);
    meta_write(mp, &m, err, sizeof err);
    CHECK(dataset_open(path, &o, err, sizeof err) == NULL && strstr(err, "test_samples 6"));
    meta_set_int(&m, "test_samples", 5);
    meta_write(mp, &m, err, sizeof err);
    meta_free(&m);
    /* A root with difficulty_<d>/ folders: picked by name, or the only one. */
    char *root = tmp_path("pfroot"), *sub = tmp_path("pfroot/difficulty_9");
    mkdir(root, 0777);
    CHECK(rename(path, sub) == 0);
    d = open_ds(root, SCHEMA_AUTO, 0, 0);
    CHECK(d && dataset_size(d, SPLIT_TRAIN) == 40 && dataset_info(d)->frames == 1);
    dataset_close(d);
    o.difficulty = "14";
    CHECK(dataset_open(root, &o, err, sizeof err) == NULL && strstr(err, "difficulty '14'"));
    /* Resizing uses TF bilinear on the stored floats. */
    d = open_ds(sub, SCHEMA_PATHFINDER, 1, 9);
    r = dataset_reader_new(d);
    float big[9 * 9 * 3], want[9 * 9 * 3];
    CHECK(dataset_read(r, SPLIT_TEST, 0, big, &y, err, sizeof err) == 0);
    int i = -1;
    for (int rank = 0; rank < N && i < 0; rank++)
        if (plan[perm[rank]] == SPLIT_TEST) i = (int)perm[rank];
    resize_tf_bilinear(images + (size_t)i * fl, S, S, 3, want, 9, 9);
    CHECK(!memcmp(big, want, sizeof want));
    dataset_reader_free(r);
    dataset_close(d);
    free(images);
    free(path);
    free(mp);
    free(root);
    free(sub);
}

/* Videos [n, F, H, W, 3] whose pixels identify sample and frame. */
static uint8_t *make_videos(int n, int F, int H, int W)
{
    size_t per = (size_t)F * H * W * 3;
    uint8_t *v = xmalloc(per * n);
    for (int i = 0; i < n; i++)
        for (size_t k = 0; k < per; k++) v[(size_t)i * per + k] = pixel_of(i, k);
    return v;
}

/* What the adapters should produce for sample i: frames, then norm. */
static void expect_video(const uint8_t *video, int F, int H, int W, int T, int girik, float *out)
{
    int idx[64];
    frame_indices(F, T, idx);
    size_t fp = (size_t)H * W;
    for (int t = 0; t < T; t++) {
        const uint8_t *src = video + (size_t)idx[t] * fp * 3;
        if (girik) normalize_signed_u8(src, fp * 3, out + t * fp * 3);
        else normalize_imagenet_u8(src, fp, out + t * fp * 3);
    }
}

static void test_pathtracker_legacy(void)
{
    enum { N = 30, F = 6, H = 4, W = 5, T = 4 };
    uint8_t *v = make_videos(N, F, H, W);
    int64_t labels[N];
    for (int i = 0; i < N; i++) labels[i] = i & 1;
    char *path = tmp_path("ptl"), err[256];
    CHECK(write_pathtracker_legacy_tfrecords(path, v, labels, N, F, H, W, 10, err, sizeof err) == 0);
    Dataset *d = open_ds(path, SCHEMA_AUTO, T, 0);
    CHECK(d && dataset_info(d)->schema == SCHEMA_PATHTRACKER_LEGACY);
    if (!d) return;
    /* 27 train of which the last 2 are val, 3 test. */
    CHECK(dataset_size(d, SPLIT_TRAIN) == 25 && dataset_size(d, SPLIT_VAL) == 2 && dataset_size(d, SPLIT_TEST) == 3);
    size_t per = (size_t)F * H * W * 3, fl = (size_t)T * H * W * 3;
    float *refs = xmalloc(sizeof(float) * fl * N), *x = xmalloc(sizeof(float) * fl);
    for (int i = 0; i < N; i++) expect_video(v + i * per, F, H, W, T, 0, refs + i * fl);
    DatasetReader *r = dataset_reader_new(d);
    int seen[N] = {0};
    for (int s = 0; s < SPLIT_COUNT; s++)
        for (int64_t k = 0; k < dataset_size(d, (Split)s); k++) {
            int32_t y;
            CHECK(dataset_read(r, (Split)s, k, x, &y, err, sizeof err) == 0);
            int i = identify(x, refs, fl, N);
            CHECK(i >= 0 && y == labels[i]);
            if (i >= 0) seen[i]++;
        }
    for (int i = 0; i < N; i++) CHECK(seen[i] == 1);
    dataset_reader_free(r);
    dataset_close(d);
    CHECK(open_ds(path, SCHEMA_AUTO, F + 1, 0) == NULL);   /* more frames than stored */
    free(refs);
    free(x);
    free(v);
    free(path);
}

static void test_pathtracker_paper(void)
{
    enum { N = 40, F = 5, H = 4, W = 4, T = 3 };
    uint8_t *v = make_videos(N, F, H, W), labels[N];
    for (int i = 0; i < N; i++) labels[i] = (uint8_t)(i % 4 == 1);
    char *path = tmp_path("ptp"), err[256];
    CHECK(write_pathtracker_tfrecords(path, v, labels, N, F, H, W, 12, err, sizeof err) == 0);
    size_t per = (size_t)F * H * W * 3, fl = (size_t)T * H * W * 3;
    float *refs = xmalloc(sizeof(float) * fl * N), *x = xmalloc(sizeof(float) * fl);
    for (int girik = 0; girik < 2; girik++) {
        Dataset *d = open_ds(path, girik ? SCHEMA_GIRIK : SCHEMA_AUTO, T, 0);
        CHECK(d != NULL);
        if (!d) continue;
        const DatasetInfo *in = dataset_info(d);
        CHECK(in->schema == (girik ? SCHEMA_GIRIK : SCHEMA_PATHTRACKER_PAPER) && in->compressed);
        CHECK(in->eval_split == (girik ? SPLIT_TEST : SPLIT_VAL));
        /* 36 train samples in 12 shards of 3; the last max(1, 12/10) = 1 shard is val; 4 test. */
        CHECK(in->count[SPLIT_TRAIN] == 33 && in->count[SPLIT_VAL] == 3 && in->count[SPLIT_TEST] == 4);
        CHECK(in->label_count[SPLIT_TEST][0] + in->label_count[SPLIT_TEST][1] == 4);
        for (int i = 0; i < N; i++) expect_video(v + i * per, F, H, W, T, girik, refs + i * fl);
        DatasetReader *r = dataset_reader_new(d);
        int seen[N] = {0};
        for (int s = 0; s < SPLIT_COUNT; s++)
            for (int64_t k = 0; k < dataset_size(d, (Split)s); k++) {
                int32_t y;
                CHECK(dataset_read(r, (Split)s, k, x, &y, err, sizeof err) == 0);
                int i = identify(x, refs, fl, N);
                CHECK(i >= 0 && y == labels[i]);
                if (i >= 0) seen[i]++;
            }
        for (int i = 0; i < N; i++) CHECK(seen[i] == 1);
        /* Random access backwards across shards still works (streams restart). */
        int32_t y0, y1;
        CHECK(dataset_read(r, SPLIT_TRAIN, 30, x, &y0, err, sizeof err) == 0);
        CHECK(dataset_read(r, SPLIT_TRAIN, 1, x, &y1, err, sizeof err) == 0);
        dataset_reader_free(r);
        dataset_close(d);
    }
    free(refs);
    free(x);
    free(v);
    free(path);
}

static void write_npy_dir(const char *root, int n0, int n1, int F, int H, int W)
{
    char err[256];
    int64_t shape[4] = {F, H, W, 3};
    size_t per = (size_t)F * H * W * 3;
    uint8_t *buf = xmalloc(per);
    for (int label = 0; label < 2; label++) {
        char *sub = xprintf("%s/%d", root, label);
        make_dirs(sub, err, sizeof err);
        for (int k = 0; k < (label ? n1 : n0); k++) {
            for (size_t j = 0; j < per; j++) buf[j] = pixel_of(label * 100 + k, j);
            char *p = xprintf("%s/%d_sample_%d.npy", sub, label, k);
            CHECK(npy_write(p, "|u1", 4, shape, buf, err, sizeof err) == 0);
            free(p);
        }
        free(sub);
    }
    free(buf);
}

static void test_pathtracker_npy(void)
{
    enum { F = 7, H = 6, W = 6 };
    char *path = tmp_path("ptn"), err[256];
    write_npy_dir(path, 12, 11, F, H, W);   /* 0_sample_10 sorts after 0_sample_9 */
    DatasetOptions o;
    dataset_options_init(&o);
    o.train_size = 15;
    o.test_size = 5;
    o.frames = 4;
    o.image_size = 9;
    Dataset *d = dataset_open(path, &o, err, sizeof err);
    CHECK(d != NULL);
    if (!d) return;
    const DatasetInfo *in = dataset_info(d);
    CHECK(in->schema == SCHEMA_PATHTRACKER_NPY && in->stored_frames == F && in->height == 9);
    CHECK(in->count[SPLIT_TRAIN] == 14 && in->count[SPLIT_VAL] == 1 && in->count[SPLIT_TEST] == 5);
    CHECK(in->label_count[SPLIT_TRAIN][0] + in->label_count[SPLIT_TRAIN][1] == 14);
    /* Test sample 0 is rank 15 of the permutation over [0_sample_0..11, 1_sample_0..10]. */
    int64_t perm[23];
    np_legacy_permutation(42, 23, perm);
    int i = (int)perm[15], label = i >= 12, k = label ? i - 12 : i;
    uint8_t raw[F * H * W * 3], small[9 * 9 * 3];
    for (size_t j = 0; j < sizeof raw; j++) raw[j] = pixel_of(label * 100 + k, j);
    DatasetReader *r = dataset_reader_new(d);
    float x[4 * 9 * 9 * 3], want[4 * 9 * 9 * 3];
    int32_t y;
    CHECK(dataset_read(r, SPLIT_TEST, 0, x, &y, err, sizeof err) == 0 && y == label);
    int idx[4];
    frame_indices(F, 4, idx);
    for (int t = 0; t < 4; t++) {
        resize_pillow_bilinear(raw + idx[t] * H * W * 3, H, W, 3, small, 9, 9);
        normalize_imagenet_u8(small, 81, want + t * 81 * 3);
    }
    CHECK(!memcmp(x, want, sizeof want));
    dataset_reader_free(r);
    dataset_close(d);
    /* A cut file is named when read, not when opened. */
    char *cut = xprintf("%s/1/1_sample_3.npy", path);
    truncate(cut, 200);
    o.image_size = 0;
    d = dataset_open(path, &o, err, sizeof err);
    r = dataset_reader_new(d);
    int bad = 0;
    float *v = xmalloc(sizeof(float) * dataset_sample_floats(d));
    for (int s = 0; s < SPLIT_COUNT; s++)
        for (int64_t j = 0; j < dataset_size(d, (Split)s); j++)
            if (dataset_read(r, (Split)s, j, v, &y, err, sizeof err)) {
                bad++;
                CHECK(strstr(err, "1_sample_3.npy") && strstr(err, "truncated"));
            }
    CHECK(bad == 1);
    o.skip_bad = 1;
    Dataset *d2 = dataset_open(path, &o, err, sizeof err);
    CHECK(d2 && dataset_info(d2)->bad_records == 1 && strstr(dataset_info(d2)->first_bad, "1_sample_3.npy"));
    CHECK(d2 && dataset_size(d2, SPLIT_TRAIN) + dataset_size(d2, SPLIT_VAL) + dataset_size(d2, SPLIT_TEST) == 20);
    dataset_close(d2);
    free(v);
    free(cut);
    dataset_reader_free(r);
    dataset_close(d);
    free(path);
}

static void test_pathfinder_png(void)
{
    enum { N = 20, S0 = 12, S = 5 };
    char *path = tmp_path("pfpng"), err[256];
    for (int i = 0; i < N; i++) {
        int label = i >= 8;
        char *sub = xprintf("%s/imgs/%s", path, label ? "pos" : "neg");
        make_dirs(sub, err, sizeof err);
        char *p = xprintf("%s/sample_%d.png", sub, i);
        uint8_t *g = img(S0, S0, 1, i);
        CHECK(png_write8(p, S0, S0, 1, g, err, sizeof err) == 0);
        free(g);
        free(p);
        free(sub);
    }
    Dataset *d = open_ds(path, SCHEMA_AUTO, 2, S);
    CHECK(d && dataset_info(d)->schema == SCHEMA_PATHFINDER_PNG);
    if (!d) return;
    CHECK(dataset_size(d, SPLIT_TRAIN) == 16 && dataset_size(d, SPLIT_VAL) == 2 && dataset_size(d, SPLIT_TEST) == 2);
    /* The list is neg sorted then pos sorted, as strings: sample_0..7 are neg;
     * pos sorts sample_10, sample_11, ..., sample_19, sample_8, sample_9. */
    const int order[N] = {0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 8, 9};
    int64_t perm[N];
    np_legacy_permutation(42, N, perm);
    int i = order[perm[16]];
    uint8_t *g = img(S0, S0, 1, i), small[S * S];
    resize_pillow_bilinear(g, S0, S0, 1, small, S, S);
    float want[S * S * 3], x[2 * S * S * 3];
    normalize_imagenet_gray(small, S * S, want);
    DatasetReader *r = dataset_reader_new(d);
    int32_t y;
    CHECK(dataset_read(r, SPLIT_VAL, 0, x, &y, err, sizeof err) == 0 && y == (i >= 8));
    CHECK(!memcmp(x, want, sizeof want) && !memcmp(x + S * S * 3, want, sizeof want));
    free(g);
    dataset_reader_free(r);
    dataset_close(d);
    free(path);
}

static void test_pathfinder_png_metadata_layout(void)
{
    char *path = tmp_path("pforig"), err[256];
    char *imgs = xprintf("%s/imgs/0", path), *meta = xprintf("%s/metadata", path);
    make_dirs(imgs, err, sizeof err);
    make_dirs(meta, err, sizeof err);
    Vec(char) text = {0};
    for (int i = 0; i < 10; i++) {
        char *p = xprintf("%s/sample_%d.png", imgs, i), *row = xprintf("imgs/0 sample_%d.png %d %d 1.0 6 2 2 0.5 1 1\n", i, i, i % 2);
        uint8_t *g = img(8, 8, 1, i);
        png_write8(p, 8, 8, 1, g, err, sizeof err);
        for (char *c = row; *c; c++) vec_push(&text, *c);
        free(g);
        free(p);
        free(row);
    }
    char *mp = xprintf("%s/0.npy", meta);
    atomic_write_file(mp, text.data, (size_t)text.len, err, sizeof err);
    Dataset *d = open_ds(path, SCHEMA_AUTO, 0, 0);
    CHECK(d && dataset_size(d, SPLIT_TRAIN) == 8 && dataset_info(d)->label_count[SPLIT_TRAIN][1] >= 0);
    dataset_close(d);
    atomic_write_file(mp, "imgs/0 sample_0.png 0 7\n", 24, err, sizeof err);
    CHECK(open_ds(path, SCHEMA_AUTO, 0, 0) == NULL);
    vec_free(&text);
    free(mp);
    free(imgs);
    free(meta);
    free(path);
}

static void test_writer_errors(void)
{
    char *path = tmp_path("werr"), err[256];
    WriterOptions o;
    writer_options_init(&o, SCHEMA_PATHTRACKER_PAPER, 2, 3, 3);
    o.count[SPLIT_VAL] = 1;
    CHECK(dataset_writer_open(path, &o, err, sizeof err) == NULL && strstr(err, "no val shards"));
    o.count[SPLIT_VAL] = 0;
    o.count[SPLIT_TRAIN] = 2;
    DatasetWriter *w = dataset_writer_open(path, &o, err, sizeof err);
    uint8_t px[2 * 3 * 3 * 3] = {0};
    float f[2 * 3 * 3 * 3] = {0};
    CHECK(w && dataset_writer_add(w, SPLIT_TRAIN, px, 2, err, sizeof err) == -1 && strstr(err, "label 2"));
    CHECK(dataset_writer_add(w, SPLIT_TEST, px, 0, err, sizeof err) == -1 && strstr(err, "more test samples"));
    CHECK(dataset_writer_add_float(w, SPLIT_TRAIN, f, 0, err, sizeof err) == -1 && strstr(err, "uint8"));
    CHECK(dataset_writer_add(w, SPLIT_TRAIN, px, 1, err, sizeof err) == 0);
    CHECK(dataset_writer_close(w, err, sizeof err) == -1 && strstr(err, "1 train samples written but 2 declared"));
    writer_options_init(&o, SCHEMA_PATHTRACKER_NPY, 2, 3, 3);
    CHECK(dataset_writer_open(path, &o, err, sizeof err) == NULL && strstr(err, "cannot write schema"));
    free(path);
}

/* ---- corruption ---- */

static void flip_byte(const char *path, long at)
{
    FILE *fp = fopen(path, "r+b");
    fseek(fp, at, SEEK_SET);
    int c = fgetc(fp);
    fseek(fp, at, SEEK_SET);
    fputc(c ^ 0x5a, fp);
    fclose(fp);
}

static void test_corrupt_tfrecords(void)
{
    enum { N = 20, S = 4 };
    float images[N * S * S * 3];
    int64_t labels[N];
    for (int i = 0; i < N * S * S * 3; i++) images[i] = (float)i;
    for (int i = 0; i < N; i++) labels[i] = i & 1;
    char *path = tmp_path("pfbad"), err[256];
    CHECK(write_pathfinder_tfrecords(path, images, labels, N, S, S, 100, err, sizeof err) == 0);
    char *shard = tmp_path("pfbad/train/shard_00000.tfrecord");
    struct stat st;
    stat(shard, &st);
    long rec = st.st_size / 16;   /* 16 records of equal size */
    flip_byte(shard, rec * 5 + 40);   /* inside record 5's data */
    Dataset *d = open_ds(path, SCHEMA_AUTO, 0, 0);
    CHECK(d != NULL);
    DatasetReader *r = dataset_reader_new(d);
    float x[S * S * 3];
    int32_t y;
    CHECK(dataset_read(r, SPLIT_TRAIN, 5, x, &y, err, sizeof err) == -1 && strstr(err, "shard_00000.tfrecord: record 5: bad data checksum"));
    CHECK(dataset_read(r, SPLIT_TRAIN, 6, x, &y, err, sizeof err) == 0);
    dataset_reader_free(r);
    dataset_close(d);
    DatasetOptions o;
    dataset_options_init(&o);
    o.skip_bad = 1;
    d = dataset_open(path, &o, err, sizeof err);
    CHECK(d && dataset_info(d)->bad_records == 1 && dataset_size(d, SPLIT_TRAIN) == 15);
    CHECK(d && strstr(dataset_info(d)->first_bad, "record 5"));
    dataset_close(d);
    truncate(shard, rec * 9 + 30);   /* cut inside record 9 */
    o.skip_bad = 0;
    CHECK(dataset_open(path, &o, err, sizeof err) == NULL && strstr(err, "record 9: truncated"));
    o.skip_bad = 1;
    d = dataset_open(path, &o, err, sizeof err);
    CHECK(d && dataset_size(d, SPLIT_TRAIN) == 8 && dataset_info(d)->bad_records == 2);
    dataset_close(d);
    free(shard);
    free(path);
}

static void test_corrupt_gzip(void)
{
    enum { N = 20, F = 2, H = 3, W = 3 };
    uint8_t *v = make_videos(N, F, H, W), labels[N] = {0};
    char *path = tmp_path("ptbad"), err[256];
    CHECK(write_pathtracker_tfrecords(path, v, labels, N, F, H, W, 2, err, sizeof err) == 0);
    char *shard = tmp_path("ptbad/train-batch_0--00001-of-00002");
    struct stat st;
    stat(shard, &st);
    truncate(shard, st.st_size - 30);
    DatasetOptions o;
    dataset_options_init(&o);
    CHECK(dataset_open(path, &o, err, sizeof err) == NULL && strstr(err, "train-batch_0--00001-of-00002") && strstr(err, "record"));
    o.skip_bad = 1;
    Dataset *d = dataset_open(path, &o, err, sizeof err);
    CHECK(d && dataset_info(d)->bad_records == 1 && dataset_size(d, SPLIT_TRAIN) + dataset_size(d, SPLIT_VAL) < 18);
    dataset_close(d);
    free(shard);
    free(path);
    free(v);
}

/* ---- the loader ---- */

/* All batches of `epochs` epochs from position 0, labels and first floats. */
static float *run_loader(Dataset *d, int batch, int workers, int shuffle, int epochs, int64_t *nb)
{
    LoaderOptions o;
    loader_options_init(&o, batch, 1234, shuffle);
    o.workers = workers;
    char err[256];
    Loader *l = loader_new(d, SPLIT_TRAIN, &o, err, sizeof err);
    size_t fl = dataset_sample_floats(d) * (size_t)batch;
    *nb = loader_batches(l);
    float *all = xmalloc(sizeof(float) * fl * (size_t)(*nb * epochs));
    int32_t *y = xmalloc(sizeof(int32_t) * (size_t)batch);
    for (int e = 0; e < epochs; e++) {
        for (int64_t b = 0; b < *nb; b++) CHECK(loader_next(l, all + (size_t)(e * *nb + b) * fl, y, err, sizeof err) == 1);
        CHECK(loader_next(l, all, y, err, sizeof err) == 0);   /* the epoch boundary */
    }
    free(y);
    loader_free(l);
    return all;
}

static void check_epoch_is_permutation(Dataset *d, const float *batches, int64_t nb, int batch)
{
    size_t fl = dataset_sample_floats(d);
    int64_t n = dataset_size(d, SPLIT_TRAIN);
    DatasetReader *r = dataset_reader_new(d);
    float *refs = xmalloc(sizeof(float) * fl * (size_t)n);
    char err[256];
    for (int64_t i = 0; i < n; i++) {
        int32_t y;
        dataset_read(r, SPLIT_TRAIN, i, refs + (size_t)i * fl, &y, err, sizeof err);
    }
    int *seen = xcalloc((size_t)n, sizeof(int)), dup = 0, missing = 0;
    for (int64_t k = 0; k < nb * batch; k++) {
        int i = identify(batches + (size_t)k * fl, refs, fl, (int)n);
        if (i < 0 || seen[i]++) dup++;
    }
    CHECK(dup == 0);
    for (int64_t i = 0; i < n; i++) missing += !seen[i];
    CHECK(missing == n - nb * batch);   /* only the dropped remainder is missing */
    free(seen);
    free(refs);
    dataset_reader_free(r);
}

static void test_loader_on(Dataset *d, int batch)
{
    int64_t nb, nb2;
    size_t fl = dataset_sample_floats(d) * (size_t)batch;
    CHECK(dataset_size(d, SPLIT_TRAIN) / batch > 1);
    float *a = run_loader(d, batch, 1, 1, 3, &nb), *b = run_loader(d, batch, 3, 1, 3, &nb2);
    CHECK(nb == dataset_size(d, SPLIT_TRAIN) / batch && nb2 == nb);
    CHECK(!memcmp(a, b, sizeof(float) * fl * (size_t)(3 * nb)));    /* workers do not change batches */
    CHECK(memcmp(a, a + fl * (size_t)nb, sizeof(float) * fl * (size_t)nb) != 0);   /* epochs differ */
    for (int e = 0; e < 3; e++) check_epoch_is_permutation(d, a + fl * (size_t)(e * nb), nb, batch);

    /* Resume: a fresh loader sought to (1, nb/2) continues exactly. */
    LoaderOptions o;
    loader_options_init(&o, batch, 1234, 1);
    char err[256];
    Loader *l = loader_new(d, SPLIT_TRAIN, &o, err, sizeof err);
    float *x = xmalloc(sizeof(float) * fl);
    int32_t y[64];
    CHECK(loader_next(l, x, y, err, sizeof err) == 1);   /* some work to throw away */
    loader_seek(l, 1, nb / 2);
    int64_t e, bi;
    loader_position(l, &e, &bi);
    CHECK(e == 1 && bi == nb / 2);
    for (int64_t k = nb + nb / 2; k < 3 * nb; k++) {
        if (k % nb == 0) CHECK(loader_next(l, x, y, err, sizeof err) == 0);
        CHECK(loader_next(l, x, y, err, sizeof err) == 1 && !memcmp(x, a + fl * (size_t)k, sizeof(float) * fl));
    }
    loader_free(l);

    /* Not shuffling: the stored order, batch by batch. */
    float *c = run_loader(d, batch, 2, 0, 1, &nb);
    DatasetReader *r = dataset_reader_new(d);
    int32_t yy;
    for (int64_t k = 0; k < nb * batch; k += batch) {
        CHECK(dataset_read(r, SPLIT_TRAIN, k, x, &yy, err, sizeof err) == 0);
        CHECK(!memcmp(x, c + (size_t)k * dataset_sample_floats(d), sizeof(float) * dataset_sample_floats(d)));
    }
    dataset_reader_free(r);
    free(x);
    free(a);
    free(b);
    free(c);
}

static void test_loader(void)
{
    char err[256];
    char *path = tmp_path("ptloader");
    write_npy_dir(path, 9, 8, 5, 3, 3);
    Dataset *d = open_ds(path, SCHEMA_AUTO, 3, 0);
    free(path);
    CHECK(d != NULL);
    if (d) test_loader_on(d, 4);
    dataset_close(d);
    path = tmp_path("ptp");
    d = open_ds(path, SCHEMA_AUTO, 0, 0);   /* compressed: window order */
    free(path);
    CHECK(d != NULL);
    if (d) test_loader_on(d, 5);
    LoaderOptions o;
    loader_options_init(&o, 1000, 1, 1);
    CHECK(d && loader_new(d, SPLIT_TRAIN, &o, err, sizeof err) == NULL && strstr(err, "fewer than one batch"));
    dataset_close(d);
    /* Windows smaller than a shard: several windows per shard per group. */
    DatasetOptions dop;
    dataset_options_init(&dop);
    dop.window = 2;
    path = tmp_path("ptp");
    d = dataset_open(path, &dop, err, sizeof err);
    free(path);
    CHECK(d != NULL);
    if (d) test_loader_on(d, 3);
    dataset_close(d);
}

static void test_real_pathtracker(void)
{
    const char *root = getenv("CSSM_ROOT") ? getenv("CSSM_ROOT") : ".";
    char *path = xprintf("%s/../shared/data/pathtracker-real", root), err[256];
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("note: no real PathTracker videos at %s; that part is not checked\n", path);
        free(path);
        return;
    }
    Dataset *d = open_ds(path, SCHEMA_AUTO, 32, 0);
    CHECK(d != NULL);
    if (!d) return;
    const DatasetInfo *in = dataset_info(d);
    /* 13 videos: train = min(20000, 13) with max(1, 13/10) = 1 val, no test. */
    CHECK(in->schema == SCHEMA_PATHTRACKER_NPY && in->stored_frames == 64 && in->stored_height == 32);
    CHECK(in->count[SPLIT_TRAIN] == 12 && in->count[SPLIT_VAL] == 1 && in->count[SPLIT_TEST] == 0);
    CHECK(dataset_sample_floats(d) == 32 * 32 * 32 * 3);
    DatasetReader *r = dataset_reader_new(d);
    float *x = xmalloc(sizeof(float) * dataset_sample_floats(d));
    for (int64_t i = 0; i < in->count[SPLIT_TRAIN]; i++) {
        int32_t y;
        CHECK(dataset_read(r, SPLIT_TRAIN, i, x, &y, err, sizeof err) == 0);
        int ok = 1;
        for (size_t k = 0; k < dataset_sample_floats(d); k++) ok &= x[k] >= -2.2f && x[k] <= 2.7f;
        CHECK(ok && (y == 0 || y == 1));
    }
    free(x);
    dataset_reader_free(r);
    dataset_close(d);
    free(path);
}

int main(void)
{
    snprintf(dir, sizeof dir, "/tmp/cssm_test_dataset_XXXXXX");
    if (!mkdtemp(dir)) die("cannot create a temporary folder");
    test_permutation();
    test_pillow();
    test_normalise_and_frames();
    test_tf_resize();
    test_metadata();
    test_pathfinder_tfrecords();
    test_pathtracker_legacy();
    test_pathtracker_paper();
    test_pathtracker_npy();
    test_pathfinder_png();
    test_pathfinder_png_metadata_layout();
    test_writer_errors();
    test_corrupt_tfrecords();
    test_corrupt_gzip();
    test_loader();
    test_real_pathtracker();
    char *cmd = xprintf("rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
    free(cmd);
    if (failures) fprintf(stderr, "%d checks failed\n", failures);
    return failures != 0;
}
