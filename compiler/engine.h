/* engine.h: what the commands that run a model on data share (train,
 * eval and predict in train_cmd.c, inspect in inspect_cmd.c).
 *
 * Settings: a run's settings, from the command line or a run directory's
 * config.json (train_cmd.c owns the flag table and its parsing). Engine:
 * the model compiled for a device and bound to an executor (engine.c): the
 * forward graph, for training also the training graph and the AdamW
 * kernel, for inspection the forward graph differentiated with respect to
 * its input, with the parameters and running statistics in a TrainModel
 * the training loop drives. EvalJob: a checkpoint opened on a data split
 * (eval, predict, inspect). Errors reach the user as one line: a bad
 * command line exits 2 (run_usage_error), a failure after it 1
 * (run_failure). */
#ifndef CSSM_ENGINE_H
#define CSSM_ENGINE_H

#include "driver.h"
#include "exec.h"
#include "loop.h"
#include "optimizer.h"
#include "rng.h"

/* ---- Settings (train_cmd.c) ---- */

/* One field per flag of train_cmd.c's table (which names their config.json
 * keys); index is inspect's first sample. */
typedef struct Settings {
    const char *model, *model_name, *data, *device, *scan, *out, *resume, *split;
    StrVec defines, includes, no_decay;
    int64_t epochs, steps, batch, warmup, patience, save_every, log_every, index;
    double lr, weight_decay, grad_clip, label_smoothing;
    int64_t seed;
    bool quiet, bn_train_mode;
    uint32_t given;          /* bit i: FLAGS[i] was on the command line */
    bool given_model;        /* a model file or a -D/-I/--model was */
} Settings;

enum { CMD_TRAIN = 1, CMD_EVAL = 2, CMD_PREDICT = 4, CMD_INSPECT = 8, CMD_ALL = 15 };

/* "cssmc CMD: error: ... (try cssmc CMD --help)" on stderr; returns 2. */
__attribute__((format(printf, 2, 3))) int run_usage_error(const char *cmd, const char *fmt, ...);
/* "cssmc CMD: error: MSG" on stderr; returns 1. */
int run_failure(const char *cmd, const char *msg);

/* ---- The model on a device (engine.c) ---- */

/* A random input of the training graph ("rng.*"), fed U[0, 1) each step. */
typedef struct RandomInput {
    int node;
    int64_t numel;
} RandomInput;

/* One compiled graph bound to an executor. */
typedef struct Bound {
    Graph *g;
    Exec *e;
    int x, targets, seed, logits;
    int *param, *grad;       /* node of each TrainModel parameter, or -1 */
    int *stat, *stat_next;   /* node of each running statistic, and (training) of its next value */
    Vec(RandomInput) random;
    float *draws;            /* room for the largest random input */
} Bound;

/* A model on a device: its graphs bound to executors, and the TrainModel
 * (parameters, running statistics, callbacks) the loop sees. */
typedef struct Engine {
    Bound train, fwd;
    CompiledAdamW *optimizer;    /* training only */
    Rng noise;                   /* the stream of the random inputs, from --seed */
    TrainModel m;
    Device device;
    int frames, height, width;
} Engine;

/* What an engine is opened for: evaluation (the forward graph), training
 * (also the training graph and the optimizer), or inspection (the forward
 * graph differentiated with respect to its input, cssmc inspect). */
typedef enum EngineUse { ENGINE_EVAL, ENGINE_TRAIN, ENGINE_INSPECT } EngineUse;

/* Compiles the graphs of `use` and binds them to s's device. Returns an exit
 * status: 1 for a model that does not compile, 2 for a device this machine
 * cannot run (an unknown -D name exits 2 inside the driver). */
int engine_open(Engine *en, const Settings *s, EngineUse use, const char *cmd);
void engine_close(Engine *en);
/* The parameters and statistics from their initialisers, seeded. */
void init_model(TrainModel *m, Graph *g, uint64_t seed);
/* Sets b's parameter and running-statistic inputs from m. */
void feed_params(Bound *b, const TrainModel *m);
/* The node of g's probe `name`; an internal error if there is none. */
int node_of_probe(Graph *g, const char *name);

/* ---- A checkpoint on a data split (train_cmd.c) ---- */

typedef struct EvalJob {
    Engine en;
    DataSource *src;
    Split split;
    const char *ckpt;
} EvalJob;

/* Parses `cssmc CMD CHECKPOINT [MODEL.cssm] ...` (bit: CMD_EVAL, CMD_PREDICT or
 * CMD_INSPECT) into s, opens the engine and the data, and loads the
 * checkpoint. Returns an exit status, or -1 after --help. */
int eval_open(int argc, char **argv, unsigned bit, const char *usage, EvalJob *job, Settings *s);
void eval_close(EvalJob *job);

#endif
