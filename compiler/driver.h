/* driver.h: THE pipeline, and the command-line options every command shares.
 *
 * compile_model() is the one path from a .cssm file to a graph: load the file
 * and its imports, check -D names, build (instantiate + shapes), verify,
 * optionally differentiate and simplify, printing the -d dumps asked for
 * along the way. Commands differ only in what they do with the graph. */
#ifndef CSSM_DRIVER_H
#define CSSM_DRIVER_H

#include "build.h"

typedef struct Options {
    const char *command;
    const char *model_path;
    Vec(Override) overrides;
    Vec(const char *) includes;
    const char *dumps;          /* letters after -d: P S A O F L */
    const char *model_name;     /* --model: which model of the file */
    const char *block;          /* --block: instantiate one block alone */
    int64_t batch;
    const char *device;         /* ref, cpu or cuda; with OPT_EXEC, the default device if not given */
    bool f64;
    bool scan_assoc;            /* --scan=assoc: SCAN nodes in associative_scan's tree order */
    BuildMode mode;             /* --training (and compile_training), --bn-train-mode */
    bool grad_input;            /* compile_model with grad: the input's gradient, not the parameters' */
    uint64_t seed;
    const char *input, *out;
    Vec(const char *) rest;     /* positional arguments after the model */
} Options;

/* Flags each command accepts, for parse_options. */
enum {
    OPT_MODEL = 1 << 0,     /* -D, -I, --batch, --model, -d, --scan, --training, --bn-train-mode */
    OPT_EXEC = 1 << 1,      /* --device, --f64, --seed */
    OPT_IO = 1 << 2,        /* --input, --out */
    OPT_BLOCK = 1 << 3,     /* --block */
};

/* Parses argv (argv[0] is the command). Returns 0, or the exit status to
 * return now (0 after --help, 2 for a bad command line). */
int parse_options(int argc, char **argv, unsigned accepted, const char *usage, Options *o);

/* Command-specific flags, taken out of argv before parse_options: a
 * boolean flag (true if present), or a flag with a value (`--flag v` or
 * `--flag=v`; NULL if absent, "" if the value is missing). */
bool take_flag(int *argc, char **argv, const char *flag);
const char *take_value(int *argc, char **argv, const char *flag);

/* Runs the pipeline. grad: also differentiate (and simplify). Returns NULL
 * after reporting errors. */
Graph *compile_model(Options *o, bool grad);

/* The training graph: the model in training mode (drop-path masks from
 * "rng.*" inputs), then the softmax cross-entropy of its logits against an
 * INPUT "targets" f32[B, classes] (loss.c), differentiated and simplified.
 * The logits stay readable as the probe "logits"; the output is the scalar
 * loss and the cotangent input d_output is fed 1. */
int append_xent_loss(Graph *g);
Graph *compile_training(Options *o);

/* Folder of the installed models (the std library and the zoo). */
const char *models_dir(void);

/* Block-alone instantiation for --block (build.c): a random-input harness
 * f32[B, T, H, W, C] with sizes from -D batch/seq_len/image_size/embed_dim. */
Graph *build_block(const Module *root, const char *block, Override *ov, int nov, int64_t batch, BuildMode mode);

/* The simplify pass (simplify.c): folds algebraic identities, merges
 * duplicate nodes and drops dead ones, rebuilding the graph compactly. */
Graph *simplify(Graph *g);

#endif
