/* train.h: the training layer of cssmc, as a table of contents.
 *
 * Everything a training run needs besides the model itself: the learning-rate
 * schedule (sched.c), AdamW with global-norm clipping and skip-non-finite
 * (optim.c), softmax cross-entropy (loss.c), atomic files, safetensors and
 * checkpoints (checkpoint.c), metrics, progress display and run directories
 * (metrics.c), and a small JSON reader and writer (json.c).
 *
 * Models reach this layer as lists of named f32 tensors (TensorRef), so it
 * never sees the compiler's IR. The semantics are the reference recipe's
 * (spec/training.md §1): optax's warmup_cosine_decay_schedule, adamw,
 * clip_by_global_norm, apply_if_finite and softmax_cross_entropy.
 *
 * Errors: a function that can fail on user input or I/O returns 0 on success
 * and -1 on failure, writing one line into err (errlen bytes; 256 is enough)
 * that names the file and says what was expected. Misuse by the caller (a
 * bug, not a user mistake) is an internal error (ice). */
#ifndef CSSM_TRAIN_H
#define CSSM_TRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rng.h"

/* ---- Tensors -------------------------------------------------------------
 * A named, contiguous, row-major f32 tensor owned by the caller. ndim 0 is a
 * scalar (one element). */
#define TENSOR_MAX_DIMS 8
typedef struct TensorRef {
    const char *name;
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    float *data;
} TensorRef;

int64_t tensor_numel(const TensorRef *t);

/* ---- Learning-rate schedule (sched.c) ------------------------------------
 * Linear warmup 0 -> peak over `warmup` = min(500, total-1) steps, then
 * cosine decay to `end` = 1% of peak at step `total`, constant after.
 * `step` is the optimizer's count of applied updates (0 for the first). */
#define SCHED_WARMUP_CAP 500
typedef struct Schedule {
    double peak, end;
    int64_t warmup, total;
} Schedule;

/* Fails when total_steps < 1 (no training step at all). */
int sched_init(Schedule *s, double peak_lr, int64_t total_steps, char *err, size_t errlen);
double lr_at(const Schedule *s, int64_t step);

/* ---- AdamW, clipping, skip-non-finite (optim.c) -------------------------
 * apply_if_finite(chain(clip_by_global_norm(grad_clip),
 *                       adamw(schedule, weight_decay, mask)),
 *                 max_consecutive_errors = max_consecutive_skips).
 *
 * State layout (flat, so a fused kernel can own it later): parameter i
 * occupies elements [offset[i], offset[i+1]) of both m (first moment) and
 * v (second moment), parameters in the order given to adamw_new. `count`
 * is the inner optax counter shared by Adam's bias correction and the
 * schedule: it advances only on applied updates. The skip counters are
 * apply_if_finite's: `notfinite_count` (consecutive non-finite gradients,
 * reset by a finite one), `total_notfinite` (never reset), `last_finite`. */
typedef struct AdamWConfig {
    double b1, b2, eps;        /* 0.9, 0.999, 1e-8 */
    double weight_decay;       /* decoupled, scaled by the scheduled LR */
    double grad_clip;          /* global-norm bound; <= 0 turns clipping off */
    int max_consecutive_skips; /* non-finite steps skipped in a row (5) */
} AdamWConfig;

/* The f32 constants of one applied update, in the order optim.c uses them:
 *   g' = (g / gnorm) * max_norm   (both 1 when the norm is under the bound)
 *   m <- one_minus_b1 g' + b1 m;  v <- one_minus_b2 (g' g') + b2 v
 *   u = (m / bias1) / (sqrt(v / bias2) + eps) + wd p;  p <- p + neg_lr u
 * with bias1 = 1 - b1^t, bias2 = 1 - b2^t and wd per element. */
typedef struct AdamWUpdate {
    float gnorm, max_norm, b1, one_minus_b1, b2, one_minus_b2, bias1, bias2, eps, neg_lr;
} AdamWUpdate;

/* Where the elementwise update runs: over n flat elements, p, m and v in
 * place. apply NULL: the host loop of optim.c. A compiled device kernel
 * (compiler/optimizer.h) plugs in here; it needs parameters and gradients
 * each in one flat buffer, as TrainModel lays them out. */
typedef struct AdamWKernel {
    void (*apply)(void *ctx, const AdamWUpdate *k, float *p, const float *g, float *m, float *v,
                  const float *wd);
    void *ctx;
} AdamWKernel;

typedef struct AdamW {
    AdamWConfig cfg;
    Schedule sched;
    AdamWKernel kernel;
    int nparams;
    int64_t *offset;          /* [nparams + 1] */
    bool *decay;              /* [nparams]; all true by default (the reference) */
    float *wd;                /* [offset[nparams]]: the weight decay, or 0 where decay is off */
    float *m, *v;             /* [offset[nparams]] each */
    int64_t count;
    int64_t notfinite_count;
    int64_t total_notfinite;
    bool last_finite;
} AdamW;

typedef struct StepInfo {
    bool finite;      /* every gradient element was finite */
    bool applied;     /* params and optimizer state were updated */
    double grad_norm; /* global L2 norm of the raw gradients */
    double lr;        /* learning rate of this update (0 when skipped) */
} StepInfo;

/* Defaults of the reference (spec/training.md §1.4): 0.9, 0.999, 1e-8,
 * weight decay 1e-4, clip 1.0, 5 skips. */
AdamWConfig adamw_defaults(void);
AdamW *adamw_new(const TensorRef *params, int nparams, const AdamWConfig *cfg,
                 const Schedule *sched);
void adamw_free(AdamW *opt);
/* Turns weight decay off for every parameter with a path component (names
 * split at '.' and '/') in `names`; returns how many were excluded. */
int adamw_exclude_from_decay(AdamW *opt, const TensorRef *params,
                             const char *const *names, int nnames);
/* One optimizer call with grads[i] shaped like params[i]. Updates params in
 * place, or leaves params and state untouched when the step is skipped. */
StepInfo adamw_step(AdamW *opt, const TensorRef *params, const float *const *grads);

/* ---- Loss (loss.c) ------------------------------------------------------
 * Mean over the batch of softmax cross-entropy against smoothed one-hot
 * targets (1-a)*onehot + a/K. logits is [batch, classes]; labels must be in
 * [0, classes) (the data layer checks them). When dlogits is not NULL it
 * receives d(mean loss)/d(logits). *correct counts argmax hits (ties and
 * NaN: the first such index, as jnp.argmax). Returns the mean loss. */
double xent_loss(const float *logits, const int32_t *labels, int64_t batch, int classes,
                 double smoothing, float *dlogits, int64_t *correct);

/* ---- JSON (json.c) ------------------------------------------------------
 * A strict RFC 8259 reader into a tree (duplicate keys and invalid UTF-8
 * are errors), and a writer that produces compact or indented text. */
typedef enum JsonKind { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT } JsonKind;

typedef struct JsonValue JsonValue;
struct JsonValue {
    JsonKind kind;
    bool boolean;
    bool integral;     /* a number written without fraction or exponent that fits int64 */
    int64_t integer;   /* its exact value when integral */
    double number;
    char *string;      /* JSON_STRING, UTF-8, no embedded NUL */
    int len;           /* JSON_ARRAY / JSON_OBJECT: number of items */
    JsonValue *items;  /* [len] */
    char **keys;       /* JSON_OBJECT: [len], in text order */
};

/* err gets "line L, column C: ..."; callers prefix the file name. */
JsonValue *json_parse(const char *text, size_t n, char *err, size_t errlen);
void json_free(JsonValue *v);
const JsonValue *json_get(const JsonValue *object, const char *key);
/* 64-bit FNV-1a of the compact text with object keys sorted: equal for
 * documents that differ only in whitespace, key order or number spelling. */
uint64_t json_fingerprint(const JsonValue *v);

#define JSON_MAX_DEPTH 64
typedef struct JsonWriter {
    char *buf;
    size_t len, cap;
    int indent;                     /* 0: compact */
    int depth;
    bool has_items[JSON_MAX_DEPTH]; /* per open container: a comma is due */
    bool after_key;
} JsonWriter;

void jw_init(JsonWriter *w, int indent);
char *jw_take(JsonWriter *w);       /* the text (xmalloc'd); resets the writer */
void jw_free(JsonWriter *w);
void jw_object(JsonWriter *w);
void jw_end_object(JsonWriter *w);
void jw_array(JsonWriter *w);
void jw_end_array(JsonWriter *w);
void jw_key(JsonWriter *w, const char *key);
void jw_string(JsonWriter *w, const char *s);
void jw_int(JsonWriter *w, int64_t x);
void jw_double(JsonWriter *w, double x);  /* shortest round-trip; NaN/Inf -> null */
void jw_bool(JsonWriter *w, bool b);
void jw_null(JsonWriter *w);
void jw_value(JsonWriter *w, const JsonValue *v, bool sort_keys);

/* ---- Atomic files (checkpoint.c) ----------------------------------------
 * A file written under a temporary name in the same directory and renamed
 * into place on commit (after fsync of the file; the directory is fsync'd
 * after the rename), so readers see the old or the new file, never half. */
typedef struct AtomicFile {
    FILE *f;
    char *path, *tmp;
} AtomicFile;

int atomic_open(AtomicFile *af, const char *path, char *err, size_t errlen);
int atomic_commit(AtomicFile *af, char *err, size_t errlen);
void atomic_abort(AtomicFile *af);   /* removes the temporary file */
int write_file_atomic(const char *path, const void *data, size_t n, char *err, size_t errlen);

/* ---- safetensors (checkpoint.c) -----------------------------------------
 * 8-byte little-endian header length N, N bytes of JSON (padded with spaces
 * so the data starts 8-byte aligned), then the tensors' bytes, contiguous,
 * in header order. The writer orders tensors as the format's own writer does
 * (by dtype alignment, then name) and puts "__metadata__" (a string map)
 * first. The reader checks everything before any data is read. */
typedef struct StMeta {
    const char *key, *value;
} StMeta;

int st_write(const char *path, const TensorRef *tensors, int n, const StMeta *meta, int nmeta,
             char *err, size_t errlen);

typedef struct StTensor {
    char *name;
    char dtype[8];                   /* "F32", "F16", "I64", ... */
    int ndim;
    int64_t shape[TENSOR_MAX_DIMS];
    int64_t begin, end;              /* byte offsets in the data section */
} StTensor;

typedef struct StFile {
    char *path;
    FILE *f;
    int64_t data_start;              /* file offset of the data section */
    int ntensors;
    StTensor *tensors;               /* sorted by begin */
    int nmeta;
    char **meta_keys, **meta_values;
} StFile;

StFile *st_open(const char *path, char *err, size_t errlen);
void st_close(StFile *st);
const StTensor *st_find(const StFile *st, const char *name);
const char *st_meta(const StFile *st, const char *key);
/* Reads the tensor named dst->name into dst->data; its dtype must be F32
 * and its shape dst's. */
int st_read_f32(StFile *st, const TensorRef *dst, char *err, size_t errlen);

/* ---- Checkpoints (checkpoint.c) -----------------------------------------
 * One safetensors file: the parameters under their own names, the running
 * statistics (BatchNorm's averages: kept, never optimized) as
 * "stats.<name>", optimizer moments as "opt.m.<name>" and "opt.v.<name>",
 * and as metadata (decimal strings) the optimizer counters and the
 * TrainState below. */
typedef struct TrainState {
    int64_t step;               /* optimizer calls so far, applied or skipped */
    int64_t epoch;              /* epochs completed */
    int64_t batch;              /* batches consumed in the current epoch */
    Rng rng;
    double best_val_acc;        /* the reported metric (max over evaluations) */
    double best_val_loss;       /* the checkpoint-selection metric (min) */
    int64_t epochs_since_best;  /* early-stopping patience counter */
    char config_hash[17];       /* json_fingerprint of config.json, hex */
} TrainState;

/* opt may be NULL (parameters and statistics only). */
int ckpt_save(const char *path, const TensorRef *params, int n, const TensorRef *stats, int nstats,
              const AdamW *opt, const TrainState *state, char *err, size_t errlen);
/* Fills params (names and shapes must match the file exactly: a missing or
 * extra tensor is an error), opt when not NULL, and state. The whole file is
 * validated before any tensor is read, so a corrupt, truncated or mismatched
 * file changes nothing (only an I/O error mid-read can leave part loaded). */
int ckpt_load(const char *path, const TensorRef *params, int n, const TensorRef *stats, int nstats,
              AdamW *opt, TrainState *state, char *err, size_t errlen);

/* ---- Metrics, progress, run directory (metrics.c) -----------------------
 * DIR/metrics.jsonl: one JSON object per line, each line flushed when
 * written and the file only appended to, so a killed run loses at most the
 * line being written. DIR/train.log: the same, for people. The terminal
 * shows a progress bar redrawn with '\r' when it is a tty, one line per log
 * interval otherwise, and nothing when quiet. */
typedef enum TermMode { TERM_AUTO, TERM_BAR, TERM_LINES } TermMode;

typedef struct MetricsOptions {
    bool quiet;
    int log_every;      /* steps between plain lines and log-file lines (>= 1) */
    FILE *term;         /* NULL: stderr */
    TermMode mode;      /* TERM_AUTO: a bar when term is a tty */
} MetricsOptions;

typedef struct StepRecord {
    int64_t epoch, epochs;      /* 0-based epoch of this step, and the total */
    int64_t step, total_steps;  /* 1-based global step just done, and the total */
    double loss, acc, lr, grad_norm;
    bool skipped;               /* non-finite gradients, update not applied */
    int64_t samples;            /* examples in this step */
    double seconds;             /* wall time of this step */
} StepRecord;

typedef struct EvalRecord {
    int64_t epoch;              /* 0-based epoch just evaluated */
    const char *split;          /* "val", "test" */
    double loss, acc;
    double best_acc;
    bool is_best;               /* a new best checkpoint was saved */
    double seconds;
} EvalRecord;

typedef struct Metrics Metrics;

Metrics *metrics_open(const char *dir, const MetricsOptions *o, char *err, size_t errlen);
/* Write failures (disk full) end the process with a message naming the file. */
void metrics_step(Metrics *m, const StepRecord *r);
void metrics_eval(Metrics *m, const EvalRecord *r);
void metrics_note(Metrics *m, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void metrics_close(Metrics *m);

/* Creates DIR (and its parents). A non-empty DIR is refused unless resuming;
 * resuming needs DIR to exist. */
int rundir_prepare(const char *dir, bool resume, char *err, size_t errlen);
/* Writes DIR/config.json atomically from JSON text (validated, re-indented)
 * and returns its fingerprint in hash (16 hex digits). */
int rundir_write_config(const char *dir, const char *json_text, char hash[17],
                        char *err, size_t errlen);
/* Reads DIR/config.json back; NULL on error. */
JsonValue *rundir_read_config(const char *dir, char hash[17], char *err, size_t errlen);

#endif
