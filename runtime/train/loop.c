/* loop.c: the training run of the reference recipe (spec/training.md §1).
 *
 * Per step: the next batch, smoothed one-hot targets, forward and backward
 * on the device (TrainModel.step), then one optimizer call over every
 * parameter (adamw_step: skip-non-finite, global-norm clip, AdamW with the
 * warmup-cosine schedule). The elementwise update is the model's compiled
 * kernel for its device (TrainModel.optimizer) over the flat parameter and
 * gradient buffers; the step's scalar decisions are made on the host.
 *
 * After every epoch (and after the last step when --steps ends mid-epoch)
 * the evaluation split is run and, in the reference's order (main.py
 * 1624-1657): a better accuracy resets the patience counter, else it grows;
 * when it reaches the patience the run stops before saving anything for
 * that epoch; otherwise a lower evaluation loss saves best.safetensors. The
 * reported metric is the best accuracy, the checkpoint the lowest loss.
 *
 * Deliberate differences from the reference, each for a reason:
 *   - last.safetensors holds the optimizer state, the step and the data
 *     position, so --resume continues the schedule, Adam's moments and the
 *     data order exactly (the reference restarts warmup and moments);
 *   - evaluation covers every sample of the split (the reference drops the
 *     last partial batch), so accuracies are over the whole split;
 *   - the logged learning rate is the one the update used (the reference
 *     logs the schedule one step ahead and blind to skipped updates).
 *
 * Resume: last.safetensors is written every save_every steps and at every
 * epoch end, atomically, never between an epoch's last step and its
 * evaluation. A run killed at any moment restarts from it and, because the
 * batches at a position depend only on (seed, epoch, b) and the device is
 * deterministic, reaches the same parameters bit for bit. Lines logged
 * after the checkpoint are logged again by the resumed run. */
#include "loop.h"

#include "base.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <string.h>
#include <unistd.h>

/* The stream label of the data order, apart from parameter initialisation. */
#define DATA_STREAM 0x64617461u

/* ---- The model's buffers ------------------------------------------------- */

/* One zeroed buffer for n tensors, each pointed at its slice; the total. */
static float *lay_out(TensorRef *t, int n, int64_t *total)
{
    *total = 0;
    for (int i = 0; i < n; i++) *total += tensor_numel(&t[i]);
    float *flat = xcalloc((size_t)MAX(*total, 1), sizeof(float));
    int64_t off = 0;
    for (int i = 0; i < n; i++) {
        t[i].data = flat + off;
        off += tensor_numel(&t[i]);
    }
    return flat;
}

int64_t train_model_layout(TrainModel *m)
{
    int64_t nstats;
    m->flat = lay_out(m->params, m->nparams, &m->total);
    m->grads = xcalloc((size_t)MAX(m->total, 1), sizeof(float));
    m->stats_flat = lay_out(m->stats, m->nstats, &nstats);
    return m->total;
}

void train_model_free_buffers(TrainModel *m)
{
    free(m->flat);
    free(m->grads);
    free(m->stats_flat);
    m->flat = m->grads = m->stats_flat = NULL;
}

void smoothed_targets(const int32_t *labels, int batch, int classes, double smoothing, float *targets)
{
    /* optax: labels * (1 - alpha) + alpha / num_classes, in f32 */
    float keep = (float)(1 - smoothing), spread = (float)(smoothing / classes);
    for (int b = 0; b < batch; b++)
        for (int k = 0; k < classes; k++)
            targets[b * classes + k] = (k == labels[b] ? 1.0f : 0.0f) * keep + spread;
}

/* ---- Evaluation -------------------------------------------------------- */

/* Reads samples [first, first + k) and pads the batch with the last one. */
static int read_padded(TrainModel *m, DataSource *s, Split split, int64_t first, int k, float *x, int32_t *y,
                       char *err, size_t errlen)
{
    for (int j = 0; j < k; j++)
        if (source_read(s, split, first + j, x + (size_t)j * m->sample_floats, y + j, err, errlen)) return -1;
    for (int j = k; j < m->batch; j++) {
        memcpy(x + (size_t)j * m->sample_floats, x + (size_t)(k - 1) * m->sample_floats,
               sizeof(float) * m->sample_floats);
        y[j] = y[k - 1];
    }
    return 0;
}

int evaluate_split(TrainModel *m, DataSource *s, Split split, double smoothing, EvalResult *r,
                   float *logits, char *err, size_t errlen)
{
    int64_t n = source_size(s, split);
    if (n == 0) return snprintf(err, errlen, "the %s split is empty", split_name(split)), -1;
    float *x = xmalloc(sizeof(float) * m->sample_floats * (size_t)m->batch);
    float *z = xmalloc(sizeof(float) * (size_t)m->batch * (size_t)m->classes);
    int32_t *y = xmalloc(sizeof(int32_t) * (size_t)m->batch);
    double loss = 0;
    int64_t hits = 0;
    int rc = 0;
    for (int64_t first = 0; first < n && !rc; first += m->batch) {
        int k = (int)MIN((int64_t)m->batch, n - first);
        if ((rc = read_padded(m, s, split, first, k, x, y, err, errlen))) break;
        m->forward(m, x, z);
        int64_t correct;
        loss += xent_loss(z, y, k, m->classes, smoothing, NULL, &correct) * k;
        hits += correct;
        if (logits) memcpy(logits + first * m->classes, z, sizeof(float) * (size_t)k * (size_t)m->classes);
    }
    *r = (EvalResult){.loss = loss / (double)n, .acc = (double)hits / (double)n, .samples = n};
    free(x), free(z), free(y);
    return rc;
}

/* ---- Step accounting ----------------------------------------------------- */

void plan_steps(int64_t train_size, int batch, int64_t epochs, int64_t steps, int64_t *steps_per_epoch,
                int64_t *total_steps, int64_t *total_epochs)
{
    *steps_per_epoch = train_size / batch;
    *total_steps = steps > 0 ? steps : *steps_per_epoch * epochs;
    *total_epochs = *steps_per_epoch > 0 ? (*total_steps + *steps_per_epoch - 1) / *steps_per_epoch : 0;
}

/* ---- The run's state --------------------------------------------------- */

/* What one epoch's steps add up to, for its summary line. */
typedef struct EpochStats {
    int64_t steps, skipped, samples;
    double loss, acc, grad_norm, seconds, lr;
} EpochStats;

typedef struct Run {
    TrainModel *m;
    DataSource *s;
    const TrainOptions *o;
    AdamW *opt;
    TrainState st;
    BatchIter *it;
    Metrics *metrics;
    FILE *jsonl;                  /* metrics.jsonl, for the per-epoch records */
    char *jsonl_path, *last_path, *best_path;
    int64_t steps_per_epoch, total_steps, total_epochs;
    const float **grad_of;        /* [nparams] views into m->grads */
    float *x, *targets, *logits;
    int32_t *y;
    EpochStats ep;
    int undecayed;                /* parameter tensors excluded from weight decay */
    bool stopped;                 /* early stopping fired */
} Run;

static void state_init(Run *r)
{
    r->st = (TrainState){.rng = rng_new(r->o->seed), .best_val_acc = 0, .best_val_loss = INFINITY};
    snprintf(r->st.config_hash, sizeof r->st.config_hash, "%s", r->o->config_hash);
}

static int make_optimizer(Run *r, char *err, size_t errlen)
{
    Schedule sched;
    if (sched_init(&sched, r->o->lr, r->total_steps, err, errlen)) return -1;
    if (r->o->warmup >= 0) sched.warmup = MIN(r->o->warmup, r->total_steps - 1);
    r->opt = adamw_new(r->m->params, r->m->nparams, &r->o->adamw, &sched);
    r->opt->kernel = r->m->optimizer;
    r->undecayed = adamw_exclude_from_decay(r->opt, r->m->params, r->o->no_decay, r->o->n_no_decay);
    return 0;
}

static void alloc_buffers(Run *r)
{
    TrainModel *m = r->m;
    r->grad_of = xmalloc(sizeof(float *) * (size_t)MAX(m->nparams, 1));
    for (int i = 0; i < m->nparams; i++) r->grad_of[i] = m->grads + (m->params[i].data - m->flat);
    r->x = xmalloc(sizeof(float) * m->sample_floats * (size_t)m->batch);
    r->targets = xmalloc(sizeof(float) * (size_t)m->batch * (size_t)m->classes);
    r->logits = xmalloc(sizeof(float) * (size_t)m->batch * (size_t)m->classes);
    r->y = xmalloc(sizeof(int32_t) * (size_t)m->batch);
}

static void run_free(Run *r)
{
    adamw_free(r->opt);
    batches_free(r->it);
    metrics_close(r->metrics);
    if (r->jsonl) fclose(r->jsonl);
    free(r->jsonl_path), free(r->last_path), free(r->best_path);
    free(r->grad_of), free(r->x), free(r->targets), free(r->logits), free(r->y);
}

/* ---- Resume -------------------------------------------------------------- */

static int load_last(Run *r, char *err, size_t errlen)
{
    TrainState st;
    const TrainModel *m = r->m;
    if (ckpt_load(r->last_path, m->params, m->nparams, m->stats, m->nstats, r->opt, &st, err, errlen)) return -1;
    if (strcmp(st.config_hash, r->o->config_hash) != 0)
        return snprintf(err, errlen, "%s: written for another configuration (hash %s) than %s/config.json (%s)",
                        r->last_path, st.config_hash, r->o->dir, r->o->config_hash), -1;
    r->st = st;
    r->stopped = r->o->patience > 0 && st.epochs_since_best >= r->o->patience;
    return 0;
}

/* A process killed mid-line leaves a torn last line: cut it, so every
 * line of the logs stays whole when the resumed run appends. */
static void cut_torn_line(const char *path)
{
    FILE *f = fopen(path, "r+");
    if (!f) return;
    char buf[4096];
    long end = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : 0, keep = end;
    while (keep > 0) {              /* back to just after the last newline */
        long from = MAX(0L, keep - (long)sizeof buf), n = keep - from;
        if (fseek(f, from, SEEK_SET) || fread(buf, 1, (size_t)n, f) != (size_t)n) {
            keep = end;
            break;
        }
        while (n > 0 && buf[n - 1] != '\n') n--;
        keep = from + n;
        if (n > 0) break;
    }
    if (keep < end && ftruncate(fileno(f), keep) != 0) keep = end;   /* then the line stays */
    fclose(f);
}

/* A process killed while saving leaves its temporary checkpoint behind
 * (checkpoint.c writes PATH.tmp.<pid>.<n>); the resumed run removes them. */
static void remove_stale_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) return;
    for (struct dirent *e; (e = readdir(d));) {
        if (strncmp(e->d_name, "last.safetensors.tmp.", 21) && strncmp(e->d_name, "best.safetensors.tmp.", 21)) continue;
        char *path = xprintf("%s/%s", dir, e->d_name);
        unlink(path);
        free(path);
    }
    closedir(d);
}

/* ---- Records --------------------------------------------------------- */

static void epoch_record(Run *r, int64_t epoch)
{
    const EpochStats *e = &r->ep;
    double n = (double)MAX(e->steps - e->skipped, 1);
    JsonWriter w;
    jw_init(&w, 0);
    jw_object(&w);
    jw_key(&w, "event"), jw_string(&w, "epoch");
    jw_key(&w, "epoch"), jw_int(&w, epoch + 1);
    jw_key(&w, "step"), jw_int(&w, r->st.step);
    jw_key(&w, "steps"), jw_int(&w, e->steps);
    jw_key(&w, "loss"), jw_double(&w, e->loss / n);
    jw_key(&w, "acc"), jw_double(&w, e->acc / (double)MAX(e->steps, 1));
    jw_key(&w, "lr"), jw_double(&w, e->lr);
    jw_key(&w, "grad_norm"), jw_double(&w, e->grad_norm / n);
    jw_key(&w, "skipped"), jw_int(&w, e->skipped);
    jw_key(&w, "seconds"), jw_double(&w, e->seconds);
    jw_key(&w, "samples_per_s"), jw_double(&w, e->seconds > 0 ? (double)e->samples / e->seconds : NAN);
    jw_end_object(&w);
    char *text = jw_take(&w);
    jw_free(&w);
    if (fprintf(r->jsonl, "%s\n", text) < 0 || fflush(r->jsonl) != 0)
        die("%s: write failed: %s", r->jsonl_path, strerror(errno));
    free(text);
    metrics_note(r->metrics, "epoch %lld  train loss %.4f  train acc %.4f  %.0f samples/s  %lld skipped updates",
                 (long long)epoch + 1, e->loss / n, e->acc / (double)MAX(e->steps, 1),
                 e->seconds > 0 ? (double)e->samples / e->seconds : 0.0, (long long)e->skipped);
}

static void account_step(Run *r, const StepRecord *rec)
{
    EpochStats *e = &r->ep;
    e->steps++;
    e->samples += rec->samples;
    e->seconds += rec->seconds;
    e->acc += rec->acc;
    if (rec->skipped) {
        e->skipped++;
        return;
    }
    e->loss += rec->loss;
    e->grad_norm += rec->grad_norm;
    e->lr = rec->lr;
}

/* ---- One step -------------------------------------------------------- */

static int next_batch(Run *r, char *err, size_t errlen)
{
    int rc = batches_next(r->it, r->x, r->y, err, errlen);
    if (rc == 0) ice("train: the data ended before the epoch's %lld batches", (long long)r->steps_per_epoch);
    return rc < 0 ? -1 : 0;
}

static int train_step(Run *r, char *err, size_t errlen)
{
    TrainModel *m = r->m;
    double t0 = monotonic_seconds(), loss;
    if (next_batch(r, err, errlen)) return -1;
    smoothed_targets(r->y, m->batch, m->classes, r->o->label_smoothing, r->targets);
    m->step(m, r->st.step, r->x, r->targets, &loss, r->logits);
    int64_t correct;
    xent_loss(r->logits, r->y, m->batch, m->classes, r->o->label_smoothing, NULL, &correct);
    StepInfo si = adamw_step(r->opt, m->params, r->grad_of);
    r->st.step++;
    r->st.batch++;
    StepRecord rec = {.epoch = r->st.epoch, .epochs = r->total_epochs, .step = r->st.step,
                      .total_steps = r->total_steps, .loss = si.applied ? loss : NAN,
                      .acc = (double)correct / m->batch, .lr = si.lr, .grad_norm = si.grad_norm,
                      .skipped = !si.applied, .samples = m->batch, .seconds = monotonic_seconds() - t0};
    metrics_step(r->metrics, &rec);
    account_step(r, &rec);
    return 0;
}

/* ---- Checkpoints and the end of an epoch ---------------------------------- */

static int save(Run *r, const char *path, char *err, size_t errlen)
{
    const TrainModel *m = r->m;
    return ckpt_save(path, m->params, m->nparams, m->stats, m->nstats, r->opt, &r->st, err, errlen);
}

/* The reference's order: accuracy and patience, early stop, then best by loss. */
static int judge(Run *r, const EvalResult *ev, bool *is_best, char *err, size_t errlen)
{
    TrainState *st = &r->st;
    *is_best = false;
    if (ev->acc > st->best_val_acc) {
        st->best_val_acc = ev->acc;
        st->epochs_since_best = 0;
    } else {
        st->epochs_since_best++;
    }
    if (r->o->patience > 0 && st->epochs_since_best >= r->o->patience) {
        r->stopped = true;
        return 0;
    }
    if (!(ev->loss < st->best_val_loss)) return 0;
    st->best_val_loss = ev->loss;
    *is_best = true;
    return save(r, r->best_path, err, errlen);
}

static int end_of_epoch(Run *r, int64_t epoch, char *err, size_t errlen)
{
    epoch_record(r, epoch);
    r->ep = (EpochStats){0};
    double t0 = monotonic_seconds();
    EvalResult ev;
    Split split = source_eval_split(r->s);
    if (evaluate_split(r->m, r->s, split, r->o->label_smoothing, &ev, NULL, err, errlen)) return -1;
    bool is_best;
    if (judge(r, &ev, &is_best, err, errlen)) return -1;
    EvalRecord rec = {.epoch = epoch, .split = split_name(split), .loss = ev.loss, .acc = ev.acc,
                      .best_acc = r->st.best_val_acc, .is_best = is_best, .seconds = monotonic_seconds() - t0};
    metrics_eval(r->metrics, &rec);
    if (r->stopped)
        metrics_note(r->metrics, "early stopping after epoch %lld: no better %s accuracy in %lld evaluations",
                     (long long)epoch + 1, split_name(split), (long long)r->o->patience);
    return save(r, r->last_path, err, errlen);
}

/* After step: the epoch may be complete (consume the loader's boundary,
 * evaluate, save), or a periodic checkpoint may be due. */
static int after_step(Run *r, char *err, size_t errlen)
{
    bool epoch_done = r->st.batch == r->steps_per_epoch, last = r->st.step == r->total_steps;
    int64_t epoch = r->st.epoch;
    if (epoch_done) {
        if (batches_next(r->it, r->x, r->y, err, errlen) != 0) ice("train: the epoch has more batches than planned");
        r->st.epoch++;
        r->st.batch = 0;
    }
    if (epoch_done || last) return end_of_epoch(r, epoch, err, errlen);
    if (r->o->save_every > 0 && r->st.step % r->o->save_every == 0) return save(r, r->last_path, err, errlen);
    return 0;
}

/* ---- The run ----------------------------------------------------------- */

static int run_open(Run *r, char *err, size_t errlen)
{
    const TrainOptions *o = r->o;
    r->last_path = xprintf("%s/last.safetensors", o->dir);
    r->best_path = xprintf("%s/best.safetensors", o->dir);
    r->jsonl_path = xprintf("%s/metrics.jsonl", o->dir);
    plan_steps(source_size(r->s, SPLIT_TRAIN), r->m->batch, o->epochs, o->steps, &r->steps_per_epoch,
               &r->total_steps, &r->total_epochs);
    alloc_buffers(r);
    state_init(r);
    if (make_optimizer(r, err, errlen)) return -1;
    if (o->resume && load_last(r, err, errlen)) return -1;
    Rng data = rng_fold(rng_new(o->seed), DATA_STREAM);
    r->it = batches_new(r->s, SPLIT_TRAIN, r->m->batch, rng_u64(&data), err, errlen);
    if (!r->it) return -1;
    batches_seek(r->it, r->st.epoch, r->st.batch);
    char *log_path = xprintf("%s/train.log", o->dir);
    cut_torn_line(r->jsonl_path);
    cut_torn_line(log_path);
    remove_stale_temporaries(o->dir);
    free(log_path);
    r->metrics = metrics_open(o->dir, &o->metrics, err, errlen);
    if (!r->metrics) return -1;
    r->jsonl = fopen(r->jsonl_path, "a");
    if (!r->jsonl) return snprintf(err, errlen, "%s: cannot open for appending: %s", r->jsonl_path, strerror(errno)), -1;
    return 0;
}

static void announce(Run *r)
{
    const TrainOptions *o = r->o;
    if (o->resume)
        metrics_note(r->metrics, "resumed %s at step %lld/%lld (epoch %lld, batch %lld)", r->last_path,
                     (long long)r->st.step, (long long)r->total_steps, (long long)r->st.epoch + 1,
                     (long long)r->st.batch);
    else
        metrics_note(r->metrics, "training %lld steps (%lld epochs of %lld batches of %d), %lld parameters in %d "
                     "tensors (%d without weight decay); data: %s", (long long)r->total_steps,
                     (long long)r->total_epochs, (long long)r->steps_per_epoch, r->m->batch, (long long)r->m->total,
                     r->m->nparams, r->undecayed, source_describe(r->s));
}

int train_run(TrainModel *m, DataSource *s, const TrainOptions *o, TrainSummary *sum, char *err, size_t errlen)
{
    Run r = {.m = m, .s = s, .o = o};
    double t0 = monotonic_seconds();
    int rc = run_open(&r, err, errlen);
    if (rc == 0) announce(&r);
    while (rc == 0 && !r.stopped && r.st.step < r.total_steps) {
        rc = train_step(&r, err, errlen);
        if (rc == 0) rc = after_step(&r, err, errlen);
    }
    *sum = (TrainSummary){.steps = r.st.step, .total_steps = r.total_steps, .epochs_done = r.st.epoch,
                          .best_val_acc = r.st.best_val_acc, .best_val_loss = r.st.best_val_loss,
                          .eval_split = source_eval_split(s), .early_stopped = r.stopped,
                          .seconds = monotonic_seconds() - t0};
    if (rc == 0 && r.metrics)
        metrics_note(r.metrics, "finished at step %lld: best %s accuracy %.4f, best %s loss %.4f (%s)",
                     (long long)r.st.step, split_name(sum->eval_split), sum->best_val_acc,
                     split_name(sum->eval_split), sum->best_val_loss, r.best_path);
    run_free(&r);
    return rc;
}
