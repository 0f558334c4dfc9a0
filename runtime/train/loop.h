/* loop.h: a whole training run, built from the pieces of train.h.
 *
 * Two parts. Data sources (source.c) give a model its samples from a
 * dataset folder in any schema dataset.h reads, or from a generator spec
 * `NAME:gen[,key=value...]` (generate.h) that makes each sample from its
 * index on the fly, with the same splits, epoch shuffles and exact resume
 * either way. The loop (loop.c) is the reference recipe over those
 * batches: schedule, AdamW with clipping and skip-non-finite, evaluation
 * after every epoch, best checkpoint by lowest evaluation loss, early
 * stopping on evaluation accuracy, periodic checkpoints and exact resume.
 *
 * The model reaches the loop as a TrainModel: its parameters as named f32
 * tensors over one flat buffer (so the optimizer update is one call over
 * all of them), two callbacks that run a batch on a device, and the
 * compiled optimizer update for that device. The loop
 * never sees the compiler's IR or the device.
 *
 * Errors: functions that can fail return 0 (or a pointer) on success and -1
 * (or NULL) on failure with one line in err naming the file or setting. */
#ifndef CSSM_LOOP_H
#define CSSM_LOOP_H

#include "dataset.h"
#include "train.h"

/* ---- Data sources (source.c) --------------------------------------------- */

typedef struct DataSource DataSource;

/* Whether spec is a generator spec (`NAME:gen` or `NAME:gen,...`). */
bool source_is_generated(const char *spec);
/* Checks a spec without opening anything large: a generator spec must parse,
 * a folder (optionally `SCHEMA:DIR`, e.g. `girik:DIR`) must exist. For
 * command lines that refuse bad values before any work. */
int source_check(const char *spec, char *err, size_t errlen);
/* Opens spec with samples of `frames` frames of height x width pixels (the
 * model's input): folders subsample frames and resize as their schema
 * does; generated PathTracker videos are subsampled, and generated data
 * must already have the model's size (a message says which key to set). */
DataSource *source_open(const char *spec, int frames, int height, int width, char *err, size_t errlen);
void source_close(DataSource *s);
/* One line: what the data is, where, and the split sizes. */
const char *source_describe(const DataSource *s);
int64_t source_size(const DataSource *s, Split split);
/* The split the reference evaluates on: val, or test (girik, cABC). */
Split source_eval_split(const DataSource *s);
size_t source_sample_floats(const DataSource *s);   /* frames * height * width * 3 */
/* Sample i of a split, in the split's stored order (evaluation, prediction). */
int source_read(DataSource *s, Split split, int64_t i, float *x, int32_t *y, char *err, size_t errlen);

/* Training batches of one split: position (epoch, b) holds samples
 * order[b*B .. b*B+B-1] of that epoch's permutation, a function of (seed,
 * epoch) alone; every epoch has floor(size / B) batches. */
typedef struct BatchIter BatchIter;
BatchIter *batches_new(DataSource *s, Split split, int batch, uint64_t seed, char *err, size_t errlen);
int64_t batches_per_epoch(const BatchIter *it);
/* 1 with the next batch in x and y, 0 once at the end of each epoch (the
 * next call starts the next one), -1 on a read error. */
int batches_next(BatchIter *it, float *x, int32_t *y, char *err, size_t errlen);
/* The batch the next call returns is (epoch, b). */
void batches_seek(BatchIter *it, int64_t epoch, int64_t b);
void batches_free(BatchIter *it);

/* ---- The model, as the loop sees it ---------------------------------------- */

typedef struct TrainModel {
    int nparams;
    TensorRef *params;       /* [nparams] views into flat, in the model's order */
    float *flat;             /* every parameter, concatenated */
    float *grads;            /* the gradients, laid out as flat */
    int64_t total;           /* floats in flat (and grads) */
    int nstats;
    TensorRef *stats;        /* [nstats] running statistics (BatchNorm's averages), views into
                                stats_flat: step updates them, checkpoints keep them, the
                                optimizer never sees them */
    float *stats_flat;
    int batch, classes;
    size_t sample_floats;    /* floats in one input sample */
    void *ctx;
    /* Forward and backward of one batch at the current parameters: x holds
     * batch samples, targets batch rows of class weights; step (0-based)
     * seeds the step's random draws (drop-path masks), so a resumed run
     * draws what the uninterrupted one did. Fills the mean loss, the logits
     * [batch, classes] and the gradients (m->grads), and moves the running
     * statistics on (whether or not the update is then applied, as the
     * reference does). */
    void (*step)(struct TrainModel *m, int64_t step, const float *x, const float *targets, double *loss,
                 float *logits);
    /* Forward only: the logits [batch, classes] of x, at the current
     * parameters and running statistics. */
    void (*forward)(struct TrainModel *m, const float *x, float *logits);
    /* The optimizer's elementwise update on the device (apply NULL: the host loop). */
    AdamWKernel optimizer;
} TrainModel;

/* Points params[i].data into a fresh flat buffer (and allocates grads),
 * and stats[i].data into stats_flat, from the names and shapes already in
 * params and stats; returns the parameters' total. */
int64_t train_model_layout(TrainModel *m);
void train_model_free_buffers(TrainModel *m);

/* Class weights of optax's smoothed one-hot: (1 - a) onehot(y) + a / K, in f32. */
void smoothed_targets(const int32_t *labels, int batch, int classes, double smoothing, float *targets);

/* ---- Evaluation ---------------------------------------------------------- */

typedef struct EvalResult {
    double loss, acc;        /* mean over every sample of the split */
    int64_t samples;
} EvalResult;

/* Runs the model over a whole split in stored order; the last partial batch
 * is padded with copies of its last sample, which are not counted. logits,
 * when not NULL, receives [samples, classes]. */
int evaluate_split(TrainModel *m, DataSource *s, Split split, double smoothing, EvalResult *r,
                   float *logits, char *err, size_t errlen);

/* ---- The run (loop.c) ------------------------------------------------------ */

typedef struct TrainOptions {
    const char *dir;              /* the run directory, prepared, config.json written */
    char config_hash[17];         /* fingerprint of its config.json */
    bool resume;                  /* continue from dir/last.safetensors */
    int64_t epochs;               /* epochs to run, or */
    int64_t steps;                /* > 0: exactly this many steps (overrides epochs) */
    double lr;                    /* peak learning rate */
    int64_t warmup;               /* < 0: min(500, total - 1), the reference's */
    AdamWConfig adamw;
    const char *const *no_decay;  /* path components excluded from weight decay */
    int n_no_decay;
    double label_smoothing;
    int64_t patience;             /* evaluations without a better accuracy; 0: never stop */
    uint64_t seed;
    int64_t save_every;           /* steps between last.safetensors saves; 0: epoch ends only */
    MetricsOptions metrics;
} TrainOptions;

typedef struct TrainSummary {
    int64_t steps, total_steps, epochs_done;
    double best_val_acc, best_val_loss;
    Split eval_split;
    bool early_stopped;
    double seconds;               /* wall time of this process's training */
} TrainSummary;

/* Step accounting of the reference: floor(train / batch) steps per epoch,
 * times epochs, or `steps`; and the epochs that takes. */
void plan_steps(int64_t train_size, int batch, int64_t epochs, int64_t steps, int64_t *steps_per_epoch,
                int64_t *total_steps, int64_t *total_epochs);

/* Trains m on s's train split as o says, from m's current parameters, or
 * from dir/last.safetensors when resuming (the parameters, the optimizer,
 * the schedule and the data position continue where it left off, so the
 * result equals an uninterrupted run's bit for bit on the same device).
 * Writes dir/last.safetensors, dir/best.safetensors, metrics.jsonl and
 * train.log. */
int train_run(TrainModel *m, DataSource *s, const TrainOptions *o, TrainSummary *r, char *err, size_t errlen);

#endif
