/* test_checkpoint.c: atomic files, safetensors, training checkpoints.
 *
 * - Header bytes: the exact files of the safetensors format's own
 *   serialization examples (no Python needed), tensor ordering, padding.
 * - Round trips of tensors and metadata, and of whole checkpoints: a run
 *   resumed from a checkpoint takes bit-identical steps to the original.
 * - Broken files: short, truncated at many points, lying header length,
 *   bad JSON, offsets with holes, overlaps, past the end, size mismatch,
 *   trailing bytes, unknown dtype, dtype and shape mismatch, missing and
 *   unexpected tensors, bad metadata. Every error must name the file, and a
 *   failed load must leave the caller's tensors untouched.
 * - Atomic writes leave no temporary files and replace the old file.
 *
 * With arguments it writes or checks the sample files that
 * tests/train/test_safetensors_python.sh exchanges with Python. */
#define _GNU_SOURCE
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base.h"
#include "train.h"

#include "check.h"

static char dir[64];

static char *in_dir(const char *name) { return xprintf("%s/%s", dir, name); }

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) die("cannot write %s", path);
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) die("cannot read %s", path);
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *buf = xmalloc(*n + 1);
    if (fread(buf, 1, *n, f) != *n) die("short read of %s", path);
    fclose(f);
    return buf;
}

/* A raw safetensors file: header length (as given), header text, data. */
static void write_raw(const char *path, uint64_t n_claimed, const char *header, const void *data, size_t ndata)
{
    size_t nh = strlen(header);
    unsigned char *buf = xmalloc(8 + nh + ndata + 1);
    memcpy(buf, &n_claimed, 8);
    memcpy(buf + 8, header, nh);
    if (ndata) memcpy(buf + 8 + nh, data, ndata);
    write_bytes(path, buf, 8 + nh + ndata);
    free(buf);
}

static void write_st(const char *path, const char *header, const void *data, size_t ndata)
{
    write_raw(path, strlen(header), header, data, ndata);
}

/* st_open must fail with a message that names the file and says `what`. */
static void expect_open_error(const char *path, const char *what, int line)
{
    char err[256] = "";
    StFile *st = st_open(path, err, sizeof err);
    if (st) {
        fprintf(stderr, "%s:%d: st_open(%s) succeeded, expected \"%s\"\n", __FILE__, line, path, what);
        failures++;
        st_close(st);
    } else if (!strstr(err, path) || !strstr(err, what)) {
        fprintf(stderr, "%s:%d: error \"%s\" lacks the path or \"%s\"\n", __FILE__, line, err, what);
        failures++;
    }
}
#define EXPECT_OPEN_ERROR(path, what) expect_open_error(path, what, __LINE__)

static void check_error(const char *err, const char *path, const char *what, int line)
{
    if (!strstr(err, path) || !strstr(err, what)) {
        fprintf(stderr, "%s:%d: error \"%s\" lacks the path or \"%s\"\n", __FILE__, line, err, what);
        failures++;
    }
}
#define CHECK_ERROR(err, path, what) check_error(err, path, what, __LINE__)

static bool file_is(const char *path, const void *want, size_t n)
{
    size_t got_n;
    unsigned char *got = read_bytes(path, &got_n);
    bool same = got_n == n && memcmp(got, want, n) == 0;
    free(got);
    return same;
}

/* ---- Header bytes ------------------------------------------------------ */

static const float six[6] = {0, 1, 2, 3, 4, 5};

/* The format's examples: "attn.0" [1,2,3] gives a 64-byte header that
 * needs no padding; "attn0" [1,1,2,3] gives 65 bytes, padded to 72. */
static void test_header_bytes(void)
{
    char *path = in_dir("vector.safetensors"), err[256];
    TensorRef t = {.name = "attn.0", .ndim = 3, .shape = {1, 2, 3}, .data = (float *)six};
    const char h1[] = "@\0\0\0\0\0\0\0{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}";
    unsigned char want[8 + 72 + 24];
    memcpy(want, h1, 8 + 64);
    memcpy(want + 72, six, 24);
    CHECK(st_write(path, &t, 1, NULL, 0, err, sizeof err) == 0);
    CHECK(file_is(path, want, 8 + 64 + 24));

    t = (TensorRef){.name = "attn0", .ndim = 4, .shape = {1, 1, 2, 3}, .data = (float *)six};
    const char h2[] = "H\0\0\0\0\0\0\0{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ";
    memcpy(want, h2, 8 + 72);
    memcpy(want + 80, six, 24);
    CHECK(st_write(path, &t, 1, NULL, 0, err, sizeof err) == 0);
    CHECK(file_is(path, want, 8 + 72 + 24));

    CHECK(st_write(path, NULL, 0, NULL, 0, err, sizeof err) == 0);
    CHECK(file_is(path, "\x08\0\0\0\0\0\0\0{}      ", 16));

    StMeta meta = {"framework", "pt"};
    CHECK(st_write(path, NULL, 0, &meta, 1, err, sizeof err) == 0);
    CHECK(file_is(path, "(\0\0\0\0\0\0\0{\"__metadata__\":{\"framework\":\"pt\"}}     ", 48));
    free(path);
}

/* Tensors are laid out by name whatever the order given; metadata first,
 * keys sorted; strings escaped. */
static void test_header_order(void)
{
    char *path = in_dir("order.safetensors"), err[256];
    float b[1] = {7}, a[2] = {8, 9};
    TensorRef t[2] = {{.name = "b", .ndim = 1, .shape = {1}, .data = b},
                      {.name = "a", .ndim = 1, .shape = {2}, .data = a}};
    StMeta meta[2] = {{"z", "1"}, {"q\"uote", "line\nbreak"}};
    CHECK(st_write(path, t, 2, meta, 2, err, sizeof err) == 0);
    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    const char *header = "{\"__metadata__\":{\"q\\\"uote\":\"line\\nbreak\",\"z\":\"1\"},"
                         "\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                         "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}";
    uint64_t hl;
    memcpy(&hl, bytes, 8);
    CHECK(hl % 8 == 0 && hl >= strlen(header) && hl < strlen(header) + 8);
    CHECK(memcmp(bytes + 8, header, strlen(header)) == 0);
    for (size_t i = 8 + strlen(header); i < 8 + hl; i++) CHECK(bytes[i] == ' ');
    float data[3];
    memcpy(data, bytes + 8 + hl, 12);
    CHECK(n == 8 + hl + 12 && data[0] == 8 && data[1] == 9 && data[2] == 7);
    free(bytes);
    free(path);
}

/* ---- Round trips ------------------------------------------------------- */

static void test_tensor_round_trip(void)
{
    char *path = in_dir("round.safetensors"), err[256];
    float w[6], s = -1.25f, empty[1] = {0};
    for (int i = 0; i < 6; i++) w[i] = (float)i * 0.5f - 1;
    w[5] = NAN;   /* values are not checked: NaN survives */
    TensorRef t[3] = {{.name = "layer.w", .ndim = 2, .shape = {2, 3}, .data = w},
                      {.name = "scale", .ndim = 0, .data = &s},
                      {.name = "nothing", .ndim = 2, .shape = {0, 4}, .data = empty}};
    StMeta meta = {"note", "h\xc3\xa9llo"};
    CHECK(st_write(path, t, 3, &meta, 1, err, sizeof err) == 0);
    StFile *st = st_open(path, err, sizeof err);
    CHECK(st != NULL);
    if (!st) return;
    CHECK(st->ntensors == 3 && st->nmeta == 1);
    CHECK(strcmp(st_meta(st, "note"), "h\xc3\xa9llo") == 0 && st_meta(st, "other") == NULL);
    const StTensor *info = st_find(st, "layer.w");
    CHECK(info && strcmp(info->dtype, "F32") == 0 && info->ndim == 2 && info->shape[1] == 3);
    float w2[6] = {0}, s2 = 0;
    TensorRef back = t[0];
    back.data = w2;
    CHECK(st_read_f32(st, &back, err, sizeof err) == 0);
    CHECK(memcmp(w, w2, sizeof w) == 0);
    back = t[1];
    back.data = &s2;
    CHECK(st_read_f32(st, &back, err, sizeof err) == 0 && s2 == s);
    back = t[2];
    CHECK(st_read_f32(st, &back, err, sizeof err) == 0);
    st_close(st);
    free(path);
}

typedef struct Model {
    float w[6], b[3];
    TensorRef params[2];
    AdamW *opt;
} Model;

static void model_init(Model *m, float seed)
{
    for (int i = 0; i < 6; i++) m->w[i] = seed + (float)i / 8;
    for (int i = 0; i < 3; i++) m->b[i] = -seed * (float)i;
    m->params[0] = (TensorRef){.name = "block.w", .ndim = 2, .shape = {2, 3}, .data = m->w};
    m->params[1] = (TensorRef){.name = "block.b", .ndim = 1, .shape = {3}, .data = m->b};
    AdamWConfig cfg = adamw_defaults();
    Schedule sched;
    char err[256];
    sched_init(&sched, 1e-2, 100, err, sizeof err);
    m->opt = adamw_new(m->params, 2, &cfg, &sched);
}

static void model_step(Model *m, int k, float poison)
{
    float gw[6], gb[3];
    for (int i = 0; i < 6; i++) gw[i] = m->w[i] * 0.3f - (float)(k % 3) + (i == 0 ? poison : 0);
    for (int i = 0; i < 3; i++) gb[i] = m->b[i] + 0.1f * (float)k;
    const float *grads[2] = {gw, gb};
    adamw_step(m->opt, m->params, grads);
}

static TrainState sample_state(void)
{
    TrainState s = {.step = 7, .epoch = 2, .batch = 3, .rng = {18446744073709551557ull, 42},
                    .best_val_acc = 0.8125, .best_val_loss = 0.1 + 0.2, .epochs_since_best = 1};
    snprintf(s.config_hash, sizeof s.config_hash, "0123456789abcdef");
    return s;
}

/* Save after a few steps (one skipped), load into a fresh model, and both
 * must take identical steps afterwards. */
static void test_checkpoint_resume(void)
{
    char *path = in_dir("ckpt.safetensors"), err[256];
    Model a, b;
    model_init(&a, 1);
    model_init(&b, 5);
    for (int k = 0; k < 4; k++) model_step(&a, k, k == 2 ? NAN : 0);
    TrainState s = sample_state(), s2 = {0};
    CHECK(ckpt_save(path, a.params, 2, NULL, 0, a.opt, &s, err, sizeof err) == 0);
    CHECK(ckpt_load(path, b.params, 2, NULL, 0, b.opt, &s2, err, sizeof err) == 0);
    CHECK(memcmp(&s, &s2, sizeof s) == 0);
    CHECK(b.opt->count == 3 && b.opt->total_notfinite == 1 && b.opt->last_finite);
    CHECK(memcmp(a.opt->m, b.opt->m, sizeof(float) * 9) == 0);
    CHECK(memcmp(a.opt->v, b.opt->v, sizeof(float) * 9) == 0);
    for (int k = 4; k < 8; k++) {
        model_step(&a, k, 0);
        model_step(&b, k, 0);
    }
    CHECK(memcmp(a.w, b.w, sizeof a.w) == 0 && memcmp(a.b, b.b, sizeof a.b) == 0);
    adamw_free(a.opt);
    adamw_free(b.opt);
    free(path);
}

/* Parameters alone load from a full checkpoint; optimizer state cannot be
 * loaded from a parameters-only one. */
static void test_checkpoint_partial(void)
{
    char *full = in_dir("full.safetensors"), *bare = in_dir("bare.safetensors"), err[256];
    Model a, b;
    model_init(&a, 1);
    model_init(&b, 5);
    model_step(&a, 0, 0);
    TrainState s = sample_state(), s2;
    CHECK(ckpt_save(full, a.params, 2, NULL, 0, a.opt, &s, err, sizeof err) == 0);
    CHECK(ckpt_save(bare, a.params, 2, NULL, 0, NULL, &s, err, sizeof err) == 0);
    CHECK(ckpt_load(full, b.params, 2, NULL, 0, NULL, &s2, err, sizeof err) == 0);
    CHECK(memcmp(a.w, b.w, sizeof a.w) == 0);
    CHECK(ckpt_load(bare, b.params, 2, NULL, 0, b.opt, &s2, err, sizeof err) == -1);
    CHECK_ERROR(err, bare, "metadata 'opt.count' is missing");
    StFile *st = st_open(bare, err, sizeof err);
    CHECK(st && st->ntensors == 2);
    st_close(st);
    adamw_free(a.opt);
    adamw_free(b.opt);
    free(full);
    free(bare);
}

/* Running statistics are saved as stats.<name> and loaded back exactly; a
 * checkpoint without them cannot fill them, and one with them is not
 * loaded by a model that has none. */
static void test_checkpoint_stats(void)
{
    char *with = in_dir("stats.safetensors"), *without = in_dir("nostats.safetensors"), err[256];
    Model a, b;
    model_init(&a, 1);
    model_init(&b, 5);
    float mean[3] = {0.25f, -1.5f, 3}, var[3] = {1, 0.125f, 7}, mean2[3] = {0}, var2[3] = {0};
    TensorRef stats[2] = {{.name = "bn.mean", .ndim = 1, .shape = {3}, .data = mean},
                          {.name = "bn.var", .ndim = 1, .shape = {3}, .data = var}};
    TensorRef back[2] = {stats[0], stats[1]};
    back[0].data = mean2, back[1].data = var2;
    TrainState s = sample_state(), s2;
    CHECK(ckpt_save(with, a.params, 2, stats, 2, a.opt, &s, err, sizeof err) == 0);
    CHECK(ckpt_load(with, b.params, 2, back, 2, b.opt, &s2, err, sizeof err) == 0);
    CHECK(memcmp(mean, mean2, sizeof mean) == 0 && memcmp(var, var2, sizeof var) == 0);
    StFile *st = st_open(with, err, sizeof err);
    CHECK(st && st_find(st, "stats.bn.mean") && st_find(st, "stats.bn.var") && st->ntensors == 8);
    st_close(st);
    CHECK(ckpt_save(without, a.params, 2, NULL, 0, NULL, &s, err, sizeof err) == 0);
    CHECK(ckpt_load(without, b.params, 2, back, 2, NULL, &s2, err, sizeof err) == -1);
    CHECK_ERROR(err, without, "stats.bn.mean");
    CHECK(ckpt_load(with, b.params, 2, NULL, 0, NULL, &s2, err, sizeof err) == -1);
    CHECK_ERROR(err, with, "unexpected tensor 'stats.bn.mean'");
    adamw_free(a.opt);
    adamw_free(b.opt);
    free(with);
    free(without);
}

/* ---- Broken files ------------------------------------------------------ */

static void test_short_and_lying(void)
{
    char *path = in_dir("broken.safetensors");
    write_bytes(path, "\x10\0\0", 3);
    EXPECT_OPEN_ERROR(path, "too short");
    write_raw(path, 1ull << 40, "{}", NULL, 0);
    EXPECT_OPEN_ERROR(path, "exceeds");
    write_raw(path, 64, "{}", NULL, 0);
    EXPECT_OPEN_ERROR(path, "runs past the end");
    write_st(path, "[1,2]   ", NULL, 0);
    EXPECT_OPEN_ERROR(path, "does not start with '{'");
    write_st(path, "{\"a\":}  ", NULL, 0);
    EXPECT_OPEN_ERROR(path, "not valid JSON");
    write_st(path, "{\"a\":1,\"a\":2}", NULL, 0);
    EXPECT_OPEN_ERROR(path, "duplicate key");
    char *missing = in_dir("does-not-exist.safetensors");
    EXPECT_OPEN_ERROR(missing, "cannot open");
    free(missing);
    free(path);
}

static void test_bad_entries(void)
{
    char *path = in_dir("entries.safetensors");
    float d[4] = {1, 2, 3, 4};
    write_st(path, "{\"x\":{\"dtype\":\"F99\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 4);
    EXPECT_OPEN_ERROR(path, "unknown \"dtype\" F99");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", d, 4);
    EXPECT_OPEN_ERROR(path, "shape[0] is not a non-negative integer");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", d, 4);
    EXPECT_OPEN_ERROR(path, "data_offsets");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,4]}}", d, 4);
    EXPECT_OPEN_ERROR(path, "9 dimensions");
    write_st(path, "{\"__metadata__\":{\"k\":1}}", NULL, 0);
    EXPECT_OPEN_ERROR(path, "is not a string");
    write_st(path, "{\"x\":[1]}", NULL, 0);
    EXPECT_OPEN_ERROR(path, "expected an object");
    free(path);
}

static void test_bad_layout(void)
{
    char *path = in_dir("layout.safetensors");
    float d[4] = {1, 2, 3, 4};
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,12]}}", d, 12);
    EXPECT_OPEN_ERROR(path, "hold 12 bytes, but dtype F32 and shape [2] need 8");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,12]}}", d, 12);
    EXPECT_OPEN_ERROR(path, "leave a hole");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                   "\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", d, 8);
    EXPECT_OPEN_ERROR(path, "overlap");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", d, 8);
    EXPECT_OPEN_ERROR(path, "truncated");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 8);
    EXPECT_OPEN_ERROR(path, "trailing bytes");
    write_st(path, "{\"x\":{\"dtype\":\"F32\",\"shape\":[4611686018427387904,4],\"data_offsets\":[0,4]}}", d, 4);
    EXPECT_OPEN_ERROR(path, "overflows");
    /* Out of header order but contiguous once sorted: valid. */
    write_st(path, "{\"y\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]},"
                   "\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", d, 8);
    char err[256];
    StFile *st = st_open(path, err, sizeof err);
    CHECK(st && strcmp(st->tensors[0].name, "x") == 0);
    st_close(st);
    free(path);
}

/* A real checkpoint cut at many lengths must never open. */
static void test_truncation(void)
{
    char *path = in_dir("cut.safetensors"), *cut = in_dir("cut-short.safetensors"), err[256];
    Model a;
    model_init(&a, 2);
    TrainState s = sample_state();
    CHECK(ckpt_save(path, a.params, 2, NULL, 0, a.opt, &s, err, sizeof err) == 0);
    size_t n;
    unsigned char *bytes = read_bytes(path, &n);
    uint64_t hl;
    memcpy(&hl, bytes, 8);
    size_t cuts[] = {0, 4, 7, 8, 9, 8 + hl / 2, 8 + hl - 1, 8 + hl, 8 + hl + 1, n - 4, n - 1};
    for (size_t i = 0; i < COUNT_OF(cuts); i++) {
        write_bytes(cut, bytes, cuts[i]);
        expect_open_error(cut, "", __LINE__);
    }
    unsigned char *longer = xmalloc(n + 4);
    memcpy(longer, bytes, n);
    memcpy(longer + n, "junk", 4);
    write_bytes(cut, longer, n + 4);
    EXPECT_OPEN_ERROR(cut, "trailing bytes");
    free(longer);
    free(bytes);
    adamw_free(a.opt);
    free(path);
    free(cut);
}

/* Loads that must fail, each leaving the destination untouched. */
static void expect_load_error(const char *path, const TensorRef *params, int n, AdamW *opt,
                              const char *what, int line)
{
    float before[6];
    memcpy(before, params[0].data, sizeof before);
    TrainState s;
    char err[256] = "";
    int rc = ckpt_load(path, params, n, NULL, 0, opt, &s, err, sizeof err);
    if (rc == 0 || !strstr(err, path) || !strstr(err, what)) {
        fprintf(stderr, "%s:%d: ckpt_load(%s) gave %d \"%s\", expected \"%s\"\n", __FILE__, line,
                path, rc, err, what);
        failures++;
    }
    CHECK(memcmp(before, params[0].data, sizeof before) == 0);
}

static void test_mismatched_loads(void)
{
    char *path = in_dir("model.safetensors"), err[256];
    Model a;
    model_init(&a, 3);
    TrainState s = sample_state();
    CHECK(ckpt_save(path, a.params, 2, NULL, 0, NULL, &s, err, sizeof err) == 0);
    float w[6] = {0}, b[3] = {0}, extra[1] = {0};
    TensorRef want[3] = {{.name = "block.w", .ndim = 2, .shape = {3, 2}, .data = w},
                         {.name = "block.b", .ndim = 1, .shape = {3}, .data = b},
                         {.name = "block.c", .ndim = 1, .shape = {1}, .data = extra}};
    expect_load_error(path, want, 2, NULL, "tensor 'block.w' has shape [2,3], expected [3,2]", __LINE__);
    want[0].shape[0] = 2, want[0].shape[1] = 3;
    expect_load_error(path, want, 3, NULL, "missing tensor 'block.c'", __LINE__);
    expect_load_error(path, want, 1, NULL, "unexpected tensor 'block.b'", __LINE__);

    double d[2] = {1, 2};
    write_st(path, "{\"__metadata__\":{\"format\":\"cssmc-checkpoint\"},"
                   "\"block.w\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[0,16]}}", d, 16);
    StFile *st = st_open(path, err, sizeof err);
    CHECK(st != NULL);
    TensorRef as_f32 = {.name = "block.w", .ndim = 1, .shape = {2}, .data = w};
    CHECK(st && st_read_f32(st, &as_f32, err, sizeof err) == -1);
    CHECK_ERROR(err, path, "tensor 'block.w' has dtype F64, expected F32");
    st_close(st);

    StMeta bad[] = {{"format", "cssmc-checkpoint"}, {"format_version", "1"}, {"config_hash", "ab"},
                    {"step", "12x"}};
    CHECK(st_write(path, a.params, 2, bad, 4, err, sizeof err) == 0);
    expect_load_error(path, a.params, 2, NULL, "metadata 'step' is \"12x\", expected a non-negative integer", __LINE__);
    CHECK(st_write(path, a.params, 2, bad, 1, err, sizeof err) == 0);
    expect_load_error(path, a.params, 2, NULL, "format version", __LINE__);
    CHECK(st_write(path, a.params, 2, NULL, 0, err, sizeof err) == 0);
    expect_load_error(path, a.params, 2, NULL, "not a cssmc checkpoint", __LINE__);
    adamw_free(a.opt);
    free(path);
}

/* ---- Atomic files ------------------------------------------------------ */

static int count_entries(const char *path)
{
    DIR *d = opendir(path);
    int n = 0;
    for (struct dirent *e; d && (e = readdir(d));) n += e->d_name[0] != '.';
    if (d) closedir(d);
    return n;
}

static void test_atomic(void)
{
    char *sub = in_dir("atomic"), *path = xprintf("%s/file.txt", sub), err[256];
    mkdir(sub, 0777);
    CHECK(write_file_atomic(path, "old", 3, err, sizeof err) == 0);
    CHECK(write_file_atomic(path, "new text", 8, err, sizeof err) == 0);
    CHECK(file_is(path, "new text", 8));
    CHECK(count_entries(sub) == 1);
    AtomicFile af;
    CHECK(atomic_open(&af, path, err, sizeof err) == 0);
    fputs("half", af.f);
    CHECK(count_entries(sub) == 2);
    atomic_abort(&af);
    CHECK(count_entries(sub) == 1 && file_is(path, "new text", 8));
    char *nowhere = in_dir("no/such/dir/file");
    CHECK(write_file_atomic(nowhere, "x", 1, err, sizeof err) == -1);
    CHECK_ERROR(err, nowhere, "cannot create temporary file");
    free(nowhere);
    free(path);
    free(sub);
}

/* ---- Files for tests/train/test_safetensors_python.sh ------------------ */

/* layer.w [2,3] = i/2 - 1, layer.b [3] = -i, scale [] = 2.5; metadata
 * {"source": "cssmc"}. */
static int write_sample(const char *path)
{
    float w[6], b[3], s = 2.5f;
    for (int i = 0; i < 6; i++) w[i] = (float)i / 2 - 1;
    for (int i = 0; i < 3; i++) b[i] = (float)-i;
    TensorRef t[3] = {{.name = "layer.w", .ndim = 2, .shape = {2, 3}, .data = w},
                      {.name = "scale", .ndim = 0, .data = &s},
                      {.name = "layer.b", .ndim = 1, .shape = {3}, .data = b}};
    StMeta meta = {"source", "cssmc"};
    char err[256];
    if (st_write(path, t, 3, &meta, 1, err, sizeof err) == 0) return 0;
    fprintf(stderr, "%s\n", err);
    return 1;
}

static int write_sample_checkpoint(const char *path)
{
    Model a;
    model_init(&a, 1);
    model_step(&a, 0, 0);
    TrainState s = sample_state();
    char err[256];
    int rc = ckpt_save(path, a.params, 2, NULL, 0, a.opt, &s, err, sizeof err);
    if (rc) fprintf(stderr, "%s\n", err);
    adamw_free(a.opt);
    return rc ? 1 : 0;
}

/* A file Python wrote: f32 "a" [2,2] = 0..3, f32 "z" [3] = 0.5, i64 "n" [2]
 * = (7, -7), several metadata keys. */
static int check_python_file(const char *path)
{
    char err[256];
    StFile *st = st_open(path, err, sizeof err);
    if (!st) return fprintf(stderr, "%s\n", err), 1;
    float a[4], z[3];
    TensorRef ta = {.name = "a", .ndim = 2, .shape = {2, 2}, .data = a};
    TensorRef tz = {.name = "z", .ndim = 1, .shape = {3}, .data = z};
    bool ok = st_read_f32(st, &ta, err, sizeof err) == 0 && st_read_f32(st, &tz, err, sizeof err) == 0;
    ok = ok && a[0] == 0 && a[3] == 3 && z[2] == 0.5f;
    const StTensor *n = st_find(st, "n");
    ok = ok && n && strcmp(n->dtype, "I64") == 0 && n->end - n->begin == 16;
    int64_t nv[2];
    ok = ok && fseeko(st->f, st->data_start + n->begin, SEEK_SET) == 0 && fread(nv, 8, 2, st->f) == 2;
    ok = ok && nv[0] == 7 && nv[1] == -7;
    ok = ok && st_meta(st, "alpha") && strcmp(st_meta(st, "alpha"), "1") == 0 && st->nmeta == 3;
    st_close(st);
    if (!ok) fprintf(stderr, "%s: contents differ from what Python wrote (%s)\n", path, err);
    return ok ? 0 : 1;
}

static int helper_mode(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "--write-sample") == 0) return write_sample(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--write-checkpoint") == 0) return write_sample_checkpoint(argv[2]);
    if (argc == 3 && strcmp(argv[1], "--check-python") == 0) return check_python_file(argv[2]);
    fprintf(stderr, "usage: %s [--write-sample F | --write-checkpoint F | --check-python F]\n", argv[0]);
    return 2;
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    for (struct dirent *e; d && (e = readdir(d));) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char *child = xprintf("%s/%s", path, e->d_name);
        struct stat sb;
        if (lstat(child, &sb) == 0 && S_ISDIR(sb.st_mode)) remove_tree(child);
        else unlink(child);
        free(child);
    }
    if (d) closedir(d);
    rmdir(path);
}

int main(int argc, char **argv)
{
    if (argc > 1) return helper_mode(argc, argv);
    snprintf(dir, sizeof dir, "/tmp/test_checkpoint.XXXXXX");
    if (!mkdtemp(dir)) die("mkdtemp failed");
    test_header_bytes();
    test_header_order();
    test_tensor_round_trip();
    test_checkpoint_resume();
    test_checkpoint_partial();
    test_checkpoint_stats();
    test_short_and_lying();
    test_bad_entries();
    test_bad_layout();
    test_truncation();
    test_mismatched_loads();
    test_atomic();
    remove_tree(dir);
    if (failures) {
        fprintf(stderr, "test_checkpoint: %d checks failed\n", failures);
        return 1;
    }
    printf("test_checkpoint: ok\n");
    return 0;
}
