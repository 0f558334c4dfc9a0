/* test_train_loop.c: the training loop and its data sources, on the host.
 *
 * The model here is a two-class logistic regression on the mean of each
 * colour channel, written out by hand (TrainModel callbacks), so the loop
 * is tested without a compiler or a device. The data is generated
 * PathTracker with one frame and no distractors: the end marker covers the
 * start marker exactly when the label is 1, so the count of red pixels
 * tells the classes apart and the model can learn them.
 *
 * Checked: step accounting; optax's smoothed targets; generated splits,
 * frame subsampling and batch order (deterministic, and equal after a
 * seek); evaluation over every sample with the padded tail not counted;
 * a run that learns (loss down, accuracy up, files written); early
 * stopping after `patience` evaluations without a better accuracy, before
 * any best checkpoint of that epoch; skipped non-finite updates; and a run
 * resumed from a copy of an earlier run's periodic checkpoint ending with
 * the same parameters bit for bit. */
#include "loop.h"

#include "base.h"
#include "check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

enum { FEATURES = 3, CLASSES = 2 };

typedef struct Fake {
    TrainModel m;
    int nan_steps;            /* steps whose gradients are made NaN */
    int steps;
    bool constant;            /* logits independent of the input */
    int snapshot_at;          /* at this step, copy last.safetensors to snapshot */
    const char *last, *snapshot;
} Fake;

static bool copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    bool ok = a && b;
    for (int c; ok && (c = fgetc(a)) != EOF;) ok = fputc(c, b) != EOF;
    if (a) fclose(a);
    if (b) ok = fclose(b) == 0 && ok;
    return ok;
}

/* Lit pixels per channel, in marker rings (8 pixels): black is far below 0
 * after ImageNet normalisation, full intensity far above. */
static void features(const TrainModel *m, const float *x, double *f)
{
    size_t pixels = m->sample_floats / 3;
    for (int c = 0; c < FEATURES; c++) f[c] = 0;
    for (size_t i = 0; i < pixels; i++)
        for (int c = 0; c < FEATURES; c++) f[c] += x[i * 3 + c] > 0 ? 1.0 / 8 : 0;
}

static void fake_forward(TrainModel *m, const float *x, float *logits)
{
    const float *w = m->params[0].data, *b = m->params[1].data;
    bool constant = ((Fake *)m->ctx)->constant;
    for (int n = 0; n < m->batch; n++) {
        double f[FEATURES];
        features(m, x + (size_t)n * m->sample_floats, f);
        for (int k = 0; k < CLASSES; k++) {
            double z = b[k];
            for (int c = 0; c < FEATURES && !constant; c++) z += f[c] * w[c * CLASSES + k];
            logits[n * CLASSES + k] = (float)z;
        }
    }
}

/* Mean cross-entropy against the given targets, and its gradients. */
static void fake_step(TrainModel *m, int64_t step, const float *x, const float *targets, double *loss,
                      float *logits)
{
    Fake *fk = m->ctx;
    fake_forward(m, x, logits);
    memset(m->grads, 0, sizeof(float) * (size_t)m->total);
    float *gw = m->grads, *gb = m->grads + FEATURES * CLASSES;
    *loss = 0;
    for (int n = 0; n < m->batch; n++) {
        const float *z = logits + n * CLASSES, *t = targets + n * CLASSES;
        double mx = fmax(z[0], z[1]), lse = mx + log(exp(z[0] - mx) + exp(z[1] - mx)), f[FEATURES];
        features(m, x + (size_t)n * m->sample_floats, f);
        for (int k = 0; k < CLASSES; k++) {
            double d = (exp(z[k] - lse) - t[k]) / m->batch;
            *loss += -t[k] * (z[k] - lse) / m->batch;
            gb[k] += (float)d;
            for (int c = 0; c < FEATURES; c++) gw[c * CLASSES + k] += (float)(d * f[c]);
        }
    }
    if (fk->steps < fk->nan_steps) gw[0] = NAN;
    if (++fk->steps == fk->snapshot_at) CHECK(copy_file(fk->last, fk->snapshot));
}

static void fake_init(Fake *fk, int batch, size_t sample_floats)
{
    static TensorRef params[2];
    params[0] = (TensorRef){.name = "head.kernel", .ndim = 2, .shape = {FEATURES, CLASSES}};
    params[1] = (TensorRef){.name = "head.bias", .ndim = 1, .shape = {CLASSES}};
    *fk = (Fake){.m = {.nparams = 2, .params = params, .batch = batch, .classes = CLASSES,
                       .sample_floats = sample_floats, .step = fake_step, .forward = fake_forward}};
    fk->m.ctx = fk;
    train_model_layout(&fk->m);
}

#define SPEC "pathtracker:gen,n=200,frames=1,dist=0"

static DataSource *open_source(void)
{
    char err[256];
    DataSource *s = source_open(SPEC, 1, 32, 32, err, sizeof err);
    if (!s) fprintf(stderr, "source_open: %s\n", err), failures++;
    return s;
}

static char *fresh_dir(const char *name)
{
    char *dir = xprintf("%s/cssm_test_train_loop_%d_%s", P_tmpdir, (int)getpid(), name), err[256];
    CHECK(rundir_prepare(dir, false, err, sizeof err) == 0);
    return dir;
}

static void remove_dir(char *dir)
{
    const char *names[] = {"metrics.jsonl", "train.log", "last.safetensors", "best.safetensors", "config.json"};
    for (size_t i = 0; i < COUNT_OF(names); i++) {
        char *p = xprintf("%s/%s", dir, names[i]);
        unlink(p);
        free(p);
    }
    rmdir(dir);
    free(dir);
}

static void options(TrainOptions *o, const char *dir, int64_t steps)
{
    *o = (TrainOptions){.dir = dir, .steps = steps, .epochs = 1, .lr = 0.05, .warmup = 5, .adamw = adamw_defaults(),
                        .patience = 0, .seed = 7, .save_every = 10, .metrics = {.quiet = true, .log_every = 10}};
    o->adamw.weight_decay = 0;
    snprintf(o->config_hash, sizeof o->config_hash, "0123456789abcdef");
}

static void test_plan_and_targets(void)
{
    int64_t per, total, epochs;
    plan_steps(100, 8, 3, 0, &per, &total, &epochs);
    CHECK(per == 12 && total == 36 && epochs == 3);
    plan_steps(100, 8, 3, 30, &per, &total, &epochs);
    CHECK(total == 30 && epochs == 3);
    plan_steps(100, 8, 3, 5, &per, &total, &epochs);
    CHECK(total == 5 && epochs == 1);
    int32_t y[2] = {1, 0};
    float t[4];
    smoothed_targets(y, 2, 2, 0.1, t);
    CHECK(t[0] == 0.05f && t[1] == 0.95f && t[2] == 0.95f && t[3] == 0.05f);
    smoothed_targets(y, 2, 2, 0, t);
    CHECK(t[0] == 0 && t[1] == 1 && t[2] == 1 && t[3] == 0);
}

static void test_generated_source(void)
{
    char err[256];
    CHECK(source_is_generated("pathtracker:gen") && source_is_generated("pathfinder:gen,n=3"));
    CHECK(!source_is_generated("/data/pt") && !source_is_generated("girik:/data/pt") &&
          !source_is_generated("pathtracker:general"));
    CHECK(source_check("pathtracker:gen,frames=0", err, sizeof err) != 0 && strstr(err, "frames"));
    CHECK(source_check("/nonexistent/dataset/folder", err, sizeof err) != 0 && strstr(err, "/nonexistent"));
    CHECK(source_open("pathtracker:gen,n=10", 8, 16, 16, err, sizeof err) == NULL && strstr(err, "image_size"));
    CHECK(source_open("pathtracker:gen,n=10,frames=4", 8, 32, 32, err, sizeof err) == NULL && strstr(err, "frames"));
    DataSource *s = source_open("pathtracker:gen,n=100,frames=8", 3, 32, 32, err, sizeof err);
    DataSource *full = source_open("pathtracker:gen,n=100,frames=8", 8, 32, 32, err, sizeof err);
    CHECK(s && full);
    if (!s || !full) return;
    /* 10% test, a tenth of the rest val, as `data gen --format tfrecord` */
    CHECK(source_size(s, SPLIT_TEST) == 10 && source_size(s, SPLIT_VAL) == 9 && source_size(s, SPLIT_TRAIN) == 81);
    CHECK(source_eval_split(s) == SPLIT_VAL && source_sample_floats(s) == 3 * 32 * 32 * 3);
    float *a = xmalloc(sizeof(float) * source_sample_floats(full)), *b = xmalloc(sizeof(float) * source_sample_floats(s));
    int32_t ya, yb;
    CHECK(source_read(full, SPLIT_VAL, 4, a, &ya, err, sizeof err) == 0);
    CHECK(source_read(s, SPLIT_VAL, 4, b, &yb, err, sizeof err) == 0);
    /* round(linspace(0, 7, 3)) = 0, 4 (3.5 to even), 7 */
    size_t frame = 32 * 32 * 3;
    CHECK(ya == yb && !memcmp(b, a, frame * 4) && !memcmp(b + frame, a + 4 * frame, frame * 4) &&
          !memcmp(b + 2 * frame, a + 7 * frame, frame * 4));
    free(a), free(b);
    source_close(s);
    source_close(full);
}

/* Batches of (epoch 1, batch 2..) after a seek equal those of a walk. */
static void test_batches(void)
{
    char err[256];
    DataSource *s = open_source();
    if (!s) return;
    size_t n = source_sample_floats(s) * 4;
    BatchIter *walk = batches_new(s, SPLIT_TRAIN, 4, 11, err, sizeof err), *seek = batches_new(s, SPLIT_TRAIN, 4, 11, err, sizeof err);
    CHECK(walk && seek && batches_per_epoch(walk) == 162 / 4);
    float *x = xmalloc(sizeof(float) * n), *x2 = xmalloc(sizeof(float) * n), *first = xmalloc(sizeof(float) * n);
    int32_t y[4], y2[4];
    CHECK(batches_next(walk, first, y, err, sizeof err) == 1);
    for (int b = 1; b < batches_per_epoch(walk); b++) CHECK(batches_next(walk, x, y, err, sizeof err) == 1);
    CHECK(batches_next(walk, x, y, err, sizeof err) == 0);          /* the epoch boundary */
    CHECK(batches_next(walk, x, y, err, sizeof err) == 1);
    CHECK(memcmp(x, first, sizeof(float) * n) != 0);                /* another epoch, another order */
    CHECK(batches_next(walk, x, y, err, sizeof err) == 1 && batches_next(walk, x, y, err, sizeof err) == 1);
    batches_seek(seek, 1, 2);
    CHECK(batches_next(seek, x2, y2, err, sizeof err) == 1);
    CHECK(!memcmp(x, x2, sizeof(float) * n) && !memcmp(y, y2, sizeof y));
    batches_free(walk), batches_free(seek);
    free(x), free(x2), free(first);
    source_close(s);
}

/* 20 val samples in batches of 8: 8 + 8 + 4 real, 4 padded. */
static void test_evaluate(void)
{
    char err[256];
    DataSource *s = open_source();
    if (!s) return;
    Fake fk;
    fake_init(&fk, 8, source_sample_floats(s));
    fk.m.flat[FEATURES * CLASSES + 1] = 1;      /* bias: always class 1 */
    fk.constant = true;
    EvalResult r;
    int64_t n = source_size(s, SPLIT_TEST), ones = 0;
    float *logits = xmalloc(sizeof(float) * (size_t)n * CLASSES);
    CHECK(evaluate_split(&fk.m, s, SPLIT_TEST, 0, &r, logits, err, sizeof err) == 0);
    for (int64_t i = 0; i < n; i++) {
        float x[32 * 32 * 3];
        int32_t y;
        CHECK(source_read(s, SPLIT_TEST, i, x, &y, err, sizeof err) == 0);
        ones += y;
        CHECK(logits[i * 2] == 0 && logits[i * 2 + 1] == 1);
    }
    CHECK(r.samples == n && n == 20);
    CHECK_NEAR(r.acc, (double)ones / (double)n, 1e-12);
    CHECK_NEAR(r.loss, log(1 + exp(-1.0)) * ones / n + log(1 + exp(1.0)) * (n - ones) / n, 1e-6);
    free(logits);
    train_model_free_buffers(&fk.m);
    source_close(s);
}

static double metric_of_last(const char *dir, const char *event, const char *key)
{
    char *path = xprintf("%s/metrics.jsonl", dir), line[1024], want[64];
    FILE *f = fopen(path, "r");
    free(path);
    double v = NAN;
    snprintf(want, sizeof want, "\"event\":\"%s\"", event);
    while (f && fgets(line, sizeof line, f)) {
        char *k = strstr(line, key);
        if (strstr(line, want) && k) v = strtod(k + strlen(key), NULL);
    }
    if (f) fclose(f);
    return v;
}

static int count_lines(const char *dir, const char *text)
{
    char *path = xprintf("%s/metrics.jsonl", dir), line[1024];
    FILE *f = fopen(path, "r");
    free(path);
    int n = 0;
    while (f && fgets(line, sizeof line, f)) n += strstr(line, text) != NULL;
    if (f) fclose(f);
    return n;
}

/* Whether the last line containing `which` also contains `text`. */
static bool last_line_has(const char *dir, const char *which, const char *text)
{
    char *path = xprintf("%s/metrics.jsonl", dir), line[1024];
    FILE *f = fopen(path, "r");
    free(path);
    bool has = false;
    while (f && fgets(line, sizeof line, f))
        if (strstr(line, which)) has = strstr(line, text) != NULL;
    if (f) fclose(f);
    return has;
}

static bool exists(const char *dir, const char *name)
{
    char *p = xprintf("%s/%s", dir, name);
    struct stat sb;
    bool ok = stat(p, &sb) == 0;
    free(p);
    return ok;
}

static void test_learns(void)
{
    char err[256];
    DataSource *s = open_source();
    if (!s) return;
    Fake fk;
    fake_init(&fk, 8, source_sample_floats(s));
    char *dir = fresh_dir("learns");
    TrainOptions o;
    options(&o, dir, 60);
    o.epochs = 3, o.steps = 0;
    TrainSummary r;
    EvalResult before, after;
    CHECK(evaluate_split(&fk.m, s, SPLIT_VAL, 0, &before, NULL, err, sizeof err) == 0);
    CHECK(train_run(&fk.m, s, &o, &r, err, sizeof err) == 0);
    CHECK(evaluate_split(&fk.m, s, SPLIT_VAL, 0, &after, NULL, err, sizeof err) == 0);
    CHECK(r.steps == 3 * (162 / 8) && r.total_steps == r.steps && r.epochs_done == 3 && !r.early_stopped);
    CHECK(after.loss < before.loss - 0.1 && after.acc >= 0.9);
    CHECK(r.best_val_acc >= 0.9 && r.best_val_loss <= after.loss + 1e-12);
    CHECK(exists(dir, "last.safetensors") && exists(dir, "best.safetensors") && exists(dir, "train.log"));
    CHECK(count_lines(dir, "\"event\":\"eval\"") == 3 && count_lines(dir, "\"event\":\"epoch\"") == 3);
    CHECK(count_lines(dir, "\"event\":\"train\"") == r.steps);
    remove_dir(dir);
    train_model_free_buffers(&fk.m);
    source_close(s);
}

/* Constant logits: the first evaluation sets the best accuracy, the next
 * `patience` do not improve it, and the run stops there. */
static void test_early_stopping(void)
{
    char err[256];
    DataSource *s = open_source();
    if (!s) return;
    Fake fk;
    fake_init(&fk, 8, source_sample_floats(s));
    fk.constant = true;
    fk.m.flat[FEATURES * CLASSES + 1] = 1;
    char *dir = fresh_dir("stop");
    TrainOptions o;
    options(&o, dir, 0);
    o.epochs = 10, o.patience = 2, o.lr = 1e-6;
    TrainSummary r;
    CHECK(train_run(&fk.m, s, &o, &r, err, sizeof err) == 0);
    CHECK(r.early_stopped && r.epochs_done == 3 && r.steps == 3 * (162 / 8));
    CHECK(count_lines(dir, "\"event\":\"eval\"") == 3 && count_lines(dir, "early stopping") == 1);
    CHECK(count_lines(dir, "\"is_best\":true") <= 2 && last_line_has(dir, "\"event\":\"eval\"", "\"is_best\":false"));
    remove_dir(dir);
    train_model_free_buffers(&fk.m);
    source_close(s);
}

/* NaN gradients on the first 3 steps: skipped, not applied, counted. */
static void test_skips(void)
{
    char err[256];
    DataSource *s = open_source();
    if (!s) return;
    Fake fk;
    fake_init(&fk, 8, source_sample_floats(s));
    fk.nan_steps = 3;
    char *dir = fresh_dir("skips");
    TrainOptions o;
    options(&o, dir, 12);
    TrainSummary r;
    CHECK(train_run(&fk.m, s, &o, &r, err, sizeof err) == 0);
    CHECK(count_lines(dir, "\"skipped\":true") == 3 && metric_of_last(dir, "epoch", "\"skipped\":") == 3);
    for (int64_t i = 0; i < fk.m.total; i++) CHECK(isfinite(fk.m.flat[i]));
    remove_dir(dir);
    train_model_free_buffers(&fk.m);
    source_close(s);
}

/* Run A to the end, copying its step-20 checkpoint away during step 25;
 * run B resumes from that copy and must end where A ended. */
static void test_resume(void)
{
    char err[256];
    DataSource *s = open_source();
    if (!s) return;
    Fake a, b;
    fake_init(&a, 8, source_sample_floats(s));
    char *da = fresh_dir("resume_a"), *db = fresh_dir("resume_b");
    char *last_a = xprintf("%s/last.safetensors", da), *last_b = xprintf("%s/last.safetensors", db);
    a.snapshot_at = 25, a.last = last_a, a.snapshot = last_b;
    TrainOptions o;
    options(&o, da, 0);
    o.epochs = 3;                  /* 60 steps: 3 epochs of 20 */
    TrainSummary r;
    CHECK(train_run(&a.m, s, &o, &r, err, sizeof err) == 0 && r.steps == 60);
    fake_init(&b, 8, source_sample_floats(s));
    o.dir = db;
    o.resume = true;
    CHECK(train_run(&b.m, s, &o, &r, err, sizeof err) == 0 && r.steps == 60);
    CHECK(b.steps == 40);          /* it really started at step 20 */
    CHECK(!memcmp(a.m.flat, b.m.flat, sizeof(float) * (size_t)a.m.total));
    CHECK(count_lines(db, "resumed") == 1);
    free(last_a), free(last_b);
    remove_dir(da), remove_dir(db);
    train_model_free_buffers(&a.m);
    train_model_free_buffers(&b.m);
    source_close(s);
}

int main(void)
{
    test_plan_and_targets();
    test_generated_source();
    test_batches();
    test_evaluate();
    test_learns();
    test_early_stopping();
    test_skips();
    test_resume();
    if (!failures) printf("test_train_loop: ok\n");
    return failures ? 1 : 0;
}
