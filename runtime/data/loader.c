/* loader.c: batches of one split for training, prepared ahead in threads.
 *
 * The batch at position (epoch, b) holds samples order[b*B .. b*B+B-1] of
 * that epoch's order (dataset_epoch_order: a permutation from
 * rng_fold(rng_new(seed), epoch), or the stored order when not shuffling).
 * Its content is a function of (seed, epoch, b) alone, so a run restored to
 * a saved position with loader_seek continues bit for bit as if it had never
 * stopped. Every epoch has floor(size / B) batches: the last partial batch
 * is dropped, as the reference's drop_remainder does.
 *
 * Worker threads claim positions in order and fill ring slots; the consumer
 * takes them in order, so up to `prefetch` batches wait ready while the
 * model trains. Compressed datasets are read by one worker, because their
 * shards are streams that one reader walks forward. */
#include "dataset.h"
#include "base.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum SlotState { SLOT_EMPTY, SLOT_FILLING, SLOT_READY, SLOT_FAILED } SlotState;

typedef struct Slot {
    SlotState state;
    int64_t epoch, batch, generation;
    float *x;
    int32_t *y;
    char err[256];
} Slot;

/* An epoch's order, shared by the workers filling its batches. */
typedef struct Order {
    int64_t epoch;
    int64_t *index;
    int users;
} Order;

typedef struct Worker {
    struct Loader *l;
    pthread_t thread;
    DatasetReader *reader;
} Worker;

struct Loader {
    Dataset *d;
    Split split;
    LoaderOptions o;
    int64_t nbatch, size;
    size_t floats;
    pthread_mutex_t mu;
    pthread_cond_t changed;
    Slot *slots;
    int nslots;
    Vec(Order) orders;
    int64_t epoch, batch;             /* the consumer's next position */
    int64_t claim_epoch, claim_batch; /* the next position a worker takes */
    int64_t generation;               /* bumped by loader_seek */
    int stop;
    Worker *workers;
    int nworkers;
};

void loader_options_init(LoaderOptions *o, int batch, uint64_t seed, int shuffle)
{
    o->batch = batch;
    o->seed = seed;
    o->shuffle = shuffle;
    o->prefetch = 2;
    o->workers = 0;
}

/* ---- orders (called with the lock held) ---- */

static Order *order_acquire(Loader *l, int64_t epoch)
{
    for (int i = 0; i < l->orders.len; i++)
        if (l->orders.data[i].epoch == epoch) {
            l->orders.data[i].users++;
            return &l->orders.data[i];
        }
    Order o = {epoch, NULL, 1};
    if (l->o.shuffle) {
        o.index = xmalloc(sizeof(int64_t) * (size_t)MAX(l->size, 1));
        dataset_epoch_order(l->d, l->split, l->o.seed, epoch, o.index);
    }
    vec_push(&l->orders, o);
    return &l->orders.data[l->orders.len - 1];
}

/* Orders nobody uses and no later claim needs are freed. */
static void orders_prune(Loader *l)
{
    for (int i = 0; i < l->orders.len;) {
        Order *o = &l->orders.data[i];
        if (o->users == 0 && o->epoch != l->claim_epoch) {
            free(o->index);
            l->orders.data[i] = l->orders.data[--l->orders.len];
        } else {
            i++;
        }
    }
}

static void order_release(Loader *l, int64_t epoch)
{
    for (int i = 0; i < l->orders.len; i++)
        if (l->orders.data[i].epoch == epoch) l->orders.data[i].users--;
    orders_prune(l);
}

/* ---- workers ---- */

static int fill(Worker *w, Slot *s, const int64_t *order)
{
    Loader *l = w->l;
    int64_t base = s->batch * l->o.batch;
    for (int k = 0; k < l->o.batch; k++) {
        int64_t i = order ? order[base + k] : base + k;
        if (dataset_read(w->reader, l->split, i, s->x + (size_t)k * l->floats, &s->y[k], s->err, sizeof s->err))
            return -1;
    }
    return 0;
}

static Slot *claim(Loader *l)
{
    for (;;) {
        if (l->stop) return NULL;
        for (int i = 0; i < l->nslots; i++) {
            Slot *s = &l->slots[i];
            if (s->state != SLOT_EMPTY) continue;
            s->state = SLOT_FILLING;
            s->epoch = l->claim_epoch;
            s->batch = l->claim_batch;
            s->generation = l->generation;
            if (++l->claim_batch == l->nbatch) l->claim_epoch++, l->claim_batch = 0;
            return s;
        }
        pthread_cond_wait(&l->changed, &l->mu);
    }
}

static void *worker_main(void *arg)
{
    Worker *w = arg;
    Loader *l = w->l;
    pthread_mutex_lock(&l->mu);
    Slot *s;
    while ((s = claim(l))) {
        Order *o = order_acquire(l, s->epoch);
        const int64_t *index = o->index;
        int64_t epoch = s->epoch;
        pthread_mutex_unlock(&l->mu);
        int rc = fill(w, s, index);
        pthread_mutex_lock(&l->mu);
        order_release(l, epoch);
        s->state = s->generation != l->generation ? SLOT_EMPTY : rc ? SLOT_FAILED : SLOT_READY;
        pthread_cond_broadcast(&l->changed);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

static int default_workers(const Dataset *d)
{
    if (dataset_info(d)->compressed) return 1;
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    return (int)MIN(4L, MAX(1L, cpus / 2));
}

Loader *loader_new(Dataset *d, Split s, const LoaderOptions *o, char *err, size_t errlen)
{
    int64_t size = dataset_size(d, s);
    if (o->batch <= 0 || size / o->batch == 0) {
        errf(err, errlen, "%s split: %lld samples, fewer than one batch of %d", split_name(s), (long long)size,
             o->batch);
        return NULL;
    }
    Loader *l = xcalloc(1, sizeof *l);
    l->d = d;
    l->split = s;
    l->o = *o;
    l->size = size;
    l->nbatch = size / o->batch;
    l->floats = dataset_sample_floats(d);
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->changed, NULL);
    l->nworkers = dataset_info(d)->compressed ? 1 : o->workers > 0 ? o->workers : default_workers(d);
    l->nslots = MAX(1, o->prefetch) + l->nworkers;
    l->slots = xcalloc((size_t)l->nslots, sizeof(Slot));
    for (int i = 0; i < l->nslots; i++) {
        l->slots[i].x = xmalloc(sizeof(float) * l->floats * (size_t)o->batch);
        l->slots[i].y = xmalloc(sizeof(int32_t) * (size_t)o->batch);
    }
    l->workers = xcalloc((size_t)l->nworkers, sizeof(Worker));
    for (int i = 0; i < l->nworkers; i++) {
        l->workers[i] = (Worker){l, 0, dataset_reader_new(d)};
        pthread_create(&l->workers[i].thread, NULL, worker_main, &l->workers[i]);
    }
    return l;
}

int64_t loader_batches(const Loader *l) { return l->nbatch; }

static Slot *find_slot(Loader *l, int64_t epoch, int64_t batch)
{
    for (int i = 0; i < l->nslots; i++) {
        Slot *s = &l->slots[i];
        if ((s->state == SLOT_READY || s->state == SLOT_FAILED) && s->epoch == epoch && s->batch == batch &&
            s->generation == l->generation)
            return s;
    }
    return NULL;
}

int loader_next(Loader *l, float *x, int32_t *y, char *err, size_t errlen)
{
    pthread_mutex_lock(&l->mu);
    if (l->batch == l->nbatch) {   /* the epoch boundary, reported once */
        l->epoch++;
        l->batch = 0;
        pthread_mutex_unlock(&l->mu);
        return 0;
    }
    Slot *s;
    while (!(s = find_slot(l, l->epoch, l->batch))) pthread_cond_wait(&l->changed, &l->mu);
    int rc = 1;
    if (s->state == SLOT_FAILED) {
        rc = errf(err, errlen, "%s", s->err);
    } else {
        memcpy(x, s->x, sizeof(float) * l->floats * (size_t)l->o.batch);
        memcpy(y, s->y, sizeof(int32_t) * (size_t)l->o.batch);
    }
    s->state = SLOT_EMPTY;
    l->batch++;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

void loader_position(const Loader *l, int64_t *epoch, int64_t *batch)
{
    pthread_mutex_lock((pthread_mutex_t *)&l->mu);
    *epoch = l->batch == l->nbatch ? l->epoch + 1 : l->epoch;
    *batch = l->batch == l->nbatch ? 0 : l->batch;
    pthread_mutex_unlock((pthread_mutex_t *)&l->mu);
}

void loader_seek(Loader *l, int64_t epoch, int64_t batch)
{
    pthread_mutex_lock(&l->mu);
    if (batch >= l->nbatch) epoch += batch / l->nbatch, batch %= l->nbatch;
    l->generation++;
    for (int i = 0; i < l->nslots; i++)
        if (l->slots[i].state != SLOT_FILLING) l->slots[i].state = SLOT_EMPTY;
    l->epoch = l->claim_epoch = epoch;
    l->batch = l->claim_batch = batch;
    orders_prune(l);
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
}

void loader_free(Loader *l)
{
    if (!l) return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->changed);
    pthread_mutex_unlock(&l->mu);
    for (int i = 0; i < l->nworkers; i++) {
        pthread_join(l->workers[i].thread, NULL);
        dataset_reader_free(l->workers[i].reader);
    }
    for (int i = 0; i < l->nslots; i++) {
        free(l->slots[i].x);
        free(l->slots[i].y);
    }
    for (int i = 0; i < l->orders.len; i++) free(l->orders.data[i].index);
    vec_free(&l->orders);
    free(l->slots);
    free(l->workers);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->changed);
    free(l);
}

/* ---- benchmark ---- */

double loader_bench(const char *dir, int batch, int seconds)
{
    char err[256];
    Dataset *d = dataset_open(dir, NULL, err, sizeof err);
    if (!d) {
        fprintf(stderr, "cssmc: error: %s\n", err);
        return -1;
    }
    Split s = SPLIT_TRAIN;
    for (int k = 0; k < SPLIT_COUNT; k++)
        if (dataset_size(d, (Split)k) > dataset_size(d, s)) s = (Split)k;
    LoaderOptions o;
    loader_options_init(&o, batch, 1, 1);
    Loader *l = loader_new(d, s, &o, err, sizeof err);
    double rate = -1;
    if (l) {
        float *x = xmalloc(sizeof(float) * dataset_sample_floats(d) * (size_t)batch);
        int32_t *y = xmalloc(sizeof(int32_t) * (size_t)batch);
        int64_t samples = 0;
        double t0 = monotonic_seconds(), t = t0;
        int rc = 1;
        while (rc >= 0 && (samples == 0 || t - t0 < seconds)) {   /* at least one batch */
            if ((rc = loader_next(l, x, y, err, sizeof err)) == 1) samples += batch;
            t = monotonic_seconds();
        }
        rate = rc < 0 ? -1 : samples / (t - t0);
        if (rc < 0) fprintf(stderr, "cssmc: error: %s\n", err);
        free(x);
        free(y);
        loader_free(l);
    } else {
        fprintf(stderr, "cssmc: error: %s\n", err);
    }
    dataset_close(d);
    return rate;
}
