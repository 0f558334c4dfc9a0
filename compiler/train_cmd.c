/* train_cmd.c: the commands `cssmc train`, `cssmc eval` and `cssmc predict`,
 * and the settings all commands that run a model on data share.
 *
 * `train` compiles the model twice, as the training graph (model, softmax
 * cross-entropy against a `targets` input, backward) and as the plain
 * forward graph for evaluation, binds both to one device through exec.h,
 * and hands the loop (runtime/train/loop.c) a TrainModel whose parameters
 * live in one flat buffer (engine.c). `eval` and `predict` compile the
 * forward graph only and load a checkpoint's parameters (inspect_cmd.c
 * opens checkpoints the same way).
 *
 * Settings come from one table of flags, which also names their keys in
 * config.json, so the command line, the run directory and --resume agree
 * by construction. Every flag value is checked before any work: a bad one
 * is one line on stderr and exit status 2, as are an unknown -D name (the
 * driver's check), a missing data folder, a device this machine lacks and
 * a run directory in the way. Failures after that (the model does not
 * compile, unreadable data, a corrupt checkpoint) are one line naming the
 * file and exit status 1.
 *
 * A run directory records everything needed to continue or reuse it:
 * config.json has every setting (paths made absolute), the model's source
 * and SHA-256, the version and the device; `train --resume DIR` takes its
 * settings from there (flags given again must agree), and `eval CKPT`
 * finds the model and -D values in the config.json beside CKPT. */
#include "commands.h"
#include "engine.h"
#include "formats.h"
#include "jit.h"

#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

/* ---- Settings and their flags --------------------------------------------- */



typedef enum FlagType { FT_INT, FT_REAL, FT_TEXT, FT_LIST, FT_BOOL } FlagType;

typedef struct Flag {
    const char *name;        /* "--lr" */
    const char *key;         /* its config.json key; NULL: not a setting of the run */
    FlagType type;
    size_t off;              /* into Settings */
    double lo, hi;           /* accepted range; hi_open: below hi */
    bool lo_open, hi_open;
    bool cosmetic;           /* may differ on --resume */
    unsigned cmds;
    const char *expect;      /* for the message */
} Flag;

#define S(field) offsetof(Settings, field)
#define BIG 9.2e18           /* below INT64_MAX, and exact enough as a double */

/* name, config key, type, field, lo, hi, lo_open, hi_open, cosmetic, commands, expected */
static const Flag FLAGS[] = {
    {"--data", "data", FT_TEXT, S(data), 0, 0, 0, 0, 0, CMD_ALL, "a dataset folder or NAME:gen[,key=value...]"},
    {"--epochs", "epochs", FT_INT, S(epochs), 1, BIG, 0, 0, 0, CMD_TRAIN, "a positive integer"},
    {"--steps", "steps", FT_INT, S(steps), 0, BIG, 0, 0, 0, CMD_TRAIN, "a non-negative integer (0: run --epochs)"},
    {"--batch", "batch", FT_INT, S(batch), 1, 1 << 20, 0, 0, 0, CMD_ALL, "a positive integer"},
    {"--lr", "lr", FT_REAL, S(lr), 0, INFINITY, 1, 0, 0, CMD_TRAIN, "a positive number"},
    {"--weight-decay", "weight_decay", FT_REAL, S(weight_decay), 0, INFINITY, 0, 0, 0, CMD_TRAIN, "a non-negative number"},
    {"--no-decay", "no_decay", FT_LIST, S(no_decay), 0, 0, 0, 0, 0, CMD_TRAIN, "comma-separated parameter path components"},
    {"--warmup", "warmup", FT_INT, S(warmup), -1, BIG, 0, 0, 0, CMD_TRAIN, "a non-negative integer (-1: the default)"},
    {"--grad-clip", "grad_clip", FT_REAL, S(grad_clip), 0, INFINITY, 0, 0, 0, CMD_TRAIN, "a non-negative number (0: off)"},
    {"--label-smoothing", "label_smoothing", FT_REAL, S(label_smoothing), 0, 1, 0, 1, 0, CMD_TRAIN | CMD_EVAL,
     "a number in [0, 1)"},
    {"--patience", "patience", FT_INT, S(patience), 0, BIG, 0, 0, 0, CMD_TRAIN, "a non-negative integer (0: never stop)"},
    {"--seed", "seed", FT_INT, S(seed), 0, BIG, 0, 0, 0, CMD_TRAIN, "a non-negative integer"},
    {"--device", "device", FT_TEXT, S(device), 0, 0, 0, 0, 0, CMD_ALL, "ref, cpu or cuda"},
    {"--save-every", "save_every", FT_INT, S(save_every), 0, BIG, 0, 0, 0, CMD_TRAIN, "a non-negative integer (steps)"},
    {"--log-every", "log_every", FT_INT, S(log_every), 1, BIG, 0, 0, 1, CMD_TRAIN, "a positive integer (steps)"},
    {"--scan", "scan", FT_TEXT, S(scan), 0, 0, 0, 0, 0, CMD_ALL, "seq or assoc"},
    {"--model", "model_name", FT_TEXT, S(model_name), 0, 0, 0, 0, 0, CMD_ALL, "a model name"},
    {"--out", NULL, FT_TEXT, S(out), 0, 0, 0, 0, 0, CMD_TRAIN | CMD_PREDICT | CMD_INSPECT, "a path"},
    {"--resume", NULL, FT_TEXT, S(resume), 0, 0, 0, 0, 0, CMD_TRAIN, "a run directory"},
    {"--split", NULL, FT_TEXT, S(split), 0, 0, 0, 0, 0, CMD_EVAL | CMD_PREDICT | CMD_INSPECT, "train, val or test"},
    {"--index", NULL, FT_INT, S(index), 0, BIG, 0, 0, 0, CMD_INSPECT, "a non-negative integer (a sample of the split)"},
    {"--quiet", NULL, FT_BOOL, S(quiet), 0, 0, 0, 0, 0, CMD_TRAIN, ""},
    {"--bn-train-mode", "bn_train_mode", FT_BOOL, S(bn_train_mode), 0, 0, 0, 0, 0, CMD_ALL, ""},
};

/* The reference's path-task defaults (spec/training.md §1.2). */
static void settings_defaults(Settings *s)
{
    *s = (Settings){.epochs = 100, .batch = 8, .warmup = -1, .patience = 10, .save_every = 100, .log_every = 10,
                    .lr = 1e-4, .weight_decay = 1e-4, .grad_clip = 1.0, .seed = 42, .scan = "seq",
                    .split = "test"};
}

static void *field(Settings *s, const Flag *f) { return (char *)s + f->off; }

static const void *cfield(const Settings *s, const Flag *f) { return (const char *)s + f->off; }

int run_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cssmc %s: error: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (try cssmc %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

/* Failures after the command line was accepted: one line, status 1. */
int run_failure(const char *cmd, const char *msg)
{
    fprintf(stderr, "cssmc %s: error: %s\n", cmd, msg);
    return 1;
}

/* ---- Parsing ---------------------------------------------------------- */

static bool in_range(const Flag *f, double x)
{
    return (f->lo_open ? x > f->lo : x >= f->lo) && (f->hi_open ? x < f->hi : x <= f->hi);
}

static void split_list(StrVec *v, const char *text)
{
    v->len = 0;
    for (const char *p = text; *p;) {
        size_t n = strcspn(p, ",");
        if (n) vec_push(v, xstrndup(p, n));
        p += n + (p[n] == ',');
    }
}

static bool set_value(const Flag *f, const char *text, Settings *s)
{
    void *p = field(s, f);
    char *end;
    errno = 0;
    if (f->type == FT_INT) {
        long long x = strtoll(text, &end, 10);
        if (!*text || *end || errno || !in_range(f, (double)x)) return false;
        *(int64_t *)p = x;
    } else if (f->type == FT_REAL) {
        double x = strtod(text, &end);
        if (!*text || *end || !isfinite(x) || !in_range(f, x)) return false;
        *(double *)p = x;
    } else if (f->type == FT_LIST) {
        split_list(p, text);
    } else if (f->type == FT_BOOL) {
        *(bool *)p = true;
    } else {
        *(const char **)p = text;
        return *text != 0;
    }
    return true;
}

/* `--flag value` or `--flag=value`; a flag of another command is unknown here. */
static int parse_flag(int argc, char **argv, int *i, unsigned cmd_bit, Settings *s)
{
    const char *a = argv[*i], *cmd = argv[0];
    for (size_t k = 0; k < COUNT_OF(FLAGS); k++) {
        const Flag *f = &FLAGS[k];
        size_t n = strlen(f->name);
        if (strncmp(a, f->name, n) || (a[n] && a[n] != '=') || !(f->cmds & cmd_bit)) continue;
        const char *v = "";
        if (f->type == FT_BOOL && a[n]) return run_usage_error(cmd, "%s takes no value", f->name);
        if (f->type != FT_BOOL) {
            if (a[n] == '=') v = a + n + 1;
            else if (*i + 1 < argc) v = argv[++*i];
            else return run_usage_error(cmd, "%s expects %s", f->name, f->expect);
        }
        if (!set_value(f, v, s)) return run_usage_error(cmd, "%s expects %s, got '%s'", f->name, f->expect, v);
        s->given |= 1u << k;
        s->given_model |= f->off == S(model_name);
        return 0;
    }
    return run_usage_error(cmd, "unknown option '%s'", a);
}

static int parse_model_flag(int argc, char **argv, int *i, Settings *s)
{
    const char *a = argv[*i], *cmd = argv[0];
    const char *v = a[2] ? a + 2 : *i + 1 < argc ? argv[++*i] : "";
    if (a[1] == 'D' && (!strchr(v, '=') || *v == '=' || !strchr(v, '=')[1]))
        return run_usage_error(cmd, "-D expects name=value, got '%s'", v);
    if (a[1] == 'I' && !*v) return run_usage_error(cmd, "-I expects a folder");
    vec_push(a[1] == 'D' ? &s->defines : &s->includes, v);
    s->given_model = true;
    return 0;
}

/* Returns 0, -1 after --help, or 2. Positional arguments go to pos. */
static int parse_args(int argc, char **argv, unsigned cmd_bit, const char *usage, Settings *s, const char **pos,
                      int maxpos, int *npos)
{
    settings_defaults(s);
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int rc = 0;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return fputs(usage, stdout), -1;
        if (!strncmp(a, "-D", 2) || !strncmp(a, "-I", 2)) rc = parse_model_flag(argc, argv, &i, s);
        else if (a[0] == '-' && a[1]) rc = parse_flag(argc, argv, &i, cmd_bit, s);
        else if (*npos == maxpos) rc = run_usage_error(argv[0], "unexpected argument '%s'", a);
        else pos[(*npos)++] = a;
        if (rc) return rc;
    }
    return 0;
}

static bool given(const Settings *s, size_t off)
{
    for (size_t k = 0; k < COUNT_OF(FLAGS); k++)
        if (FLAGS[k].off == off) return s->given >> k & 1;
    return false;
}

/* ---- Paths ---------------------------------------------------------------- */

static const char *absolute(const char *path)
{
    char buf[PATH_MAX];
    return realpath(path, buf) ? xstrdup(buf) : path;
}

/* Folders become absolute (keeping a SCHEMA: prefix); generator specs stay. */
static const char *absolute_data(const char *spec)
{
    if (source_is_generated(spec)) return spec;
    const char *colon = strchr(spec, ':');
    DataSchema schema;
    if (colon) {
        char *name = xstrndup(spec, (size_t)(colon - spec));
        bool named = schema_parse(name, &schema) == 0;
        free(name);
        if (named) return xprintf("%.*s:%s", (int)(colon - spec), spec, absolute(colon + 1));
    }
    return absolute(spec);
}

static void absolute_paths(Settings *s)
{
    if (s->model) s->model = absolute(s->model);
    if (s->data) s->data = absolute_data(s->data);
    for (int i = 0; i < s->includes.len; i++) s->includes.data[i] = absolute(s->includes.data[i]);
}

static char *read_text(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    Vec(char) buf = {0};
    for (int c; (c = fgetc(f)) != EOF;) vec_push(&buf, (char)c);
    vec_push(&buf, 0);
    fclose(f);
    *len = (size_t)buf.len - 1;
    return buf.data;
}

static bool is_file(const char *path)
{
    struct stat sb;
    return stat(path, &sb) == 0 && S_ISREG(sb.st_mode);
}

/* A run directory in the way of a fresh run is refused before any work. */
static int check_out(const char *cmd, const char *dir)
{
    struct stat sb;
    char err[512];
    if (stat(dir, &sb) != 0) return 0;           /* created later */
    if (rundir_prepare(dir, false, err, sizeof err) == 0) return 0;
    return run_usage_error(cmd, "--out %s", err);
}

static const char *default_out(const char *model)
{
    char stamp[32], *copy = xstrdup(model), *base = basename(copy), *dot = strrchr(base, '.');
    if (dot) *dot = 0;
    time_t now = time(NULL);
    struct tm tm;
    strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", localtime_r(&now, &tm));
    return xprintf("runs/%s-%s", base, stamp);
}

/* ---- config.json ---------------------------------------------------------- */

static void jw_strings(JsonWriter *w, const StrVec *v)
{
    jw_array(w);
    for (int i = 0; i < v->len; i++) jw_string(w, v->data[i]);
    jw_end_array(w);
}

static void jw_flag(JsonWriter *w, const Flag *f, const Settings *s)
{
    const void *p = cfield(s, f);
    jw_key(w, f->key);
    switch (f->type) {
    case FT_INT: jw_int(w, *(const int64_t *)p); break;
    case FT_REAL: jw_double(w, *(const double *)p); break;
    case FT_LIST: jw_strings(w, p); break;
    case FT_BOOL: jw_bool(w, *(const bool *)p); break;
    case FT_TEXT:
        if (*(const char *const *)p) jw_string(w, *(const char *const *)p);
        else jw_null(w);
        break;
    }
}

static void jw_settings(JsonWriter *w, const Settings *s)
{
    jw_key(w, "model");
    jw_string(w, s->model);
    jw_key(w, "defines");
    jw_strings(w, &s->defines);
    jw_key(w, "includes");
    jw_strings(w, &s->includes);
    for (size_t k = 0; k < COUNT_OF(FLAGS); k++)
        if (FLAGS[k].key) jw_flag(w, &FLAGS[k], s);
}

static int read_strings(const JsonValue *v, StrVec *out)
{
    if (!v || v->kind != JSON_ARRAY) return -1;
    out->len = 0;
    for (int i = 0; i < v->len; i++) {
        if (v->items[i].kind != JSON_STRING) return -1;
        vec_push(out, xstrdup(v->items[i].string));
    }
    return 0;
}

static int read_flag(const JsonValue *v, const Flag *f, Settings *s)
{
    void *p = field(s, f);
    if (!v) return -1;
    switch (f->type) {
    case FT_INT:
        if (v->kind != JSON_NUMBER || !v->integral || !in_range(f, (double)v->integer)) return -1;
        *(int64_t *)p = v->integer;
        return 0;
    case FT_REAL:
        if (v->kind != JSON_NUMBER || !in_range(f, v->number)) return -1;
        *(double *)p = v->number;
        return 0;
    case FT_LIST: return read_strings(v, p);
    case FT_BOOL:
        if (v->kind != JSON_BOOL) return -1;
        *(bool *)p = v->boolean;
        return 0;
    case FT_TEXT:
        if (v->kind != JSON_STRING && v->kind != JSON_NULL) return -1;
        *(const char **)p = v->kind == JSON_STRING ? xstrdup(v->string) : NULL;
        return 0;
    }
    return -1;
}

/* The settings of a run from its config.json (`path` names it in messages). */
static int settings_from_json(const JsonValue *cfg, const char *path, Settings *s, char *err, size_t errlen)
{
    settings_defaults(s);
    const JsonValue *model = json_get(cfg, "model");
    if (!model || model->kind != JSON_STRING) return snprintf(err, errlen, "%s: no string \"model\"", path), -1;
    s->model = xstrdup(model->string);
    if (read_strings(json_get(cfg, "defines"), &s->defines) || read_strings(json_get(cfg, "includes"), &s->includes))
        return snprintf(err, errlen, "%s: \"defines\" and \"includes\" must be arrays of strings", path), -1;
    for (size_t k = 0; k < COUNT_OF(FLAGS); k++) {
        const Flag *f = &FLAGS[k];
        if (f->key && read_flag(json_get(cfg, f->key), f, s))
            return snprintf(err, errlen, "%s: \"%s\" is missing or not %s", path, f->key, f->expect), -1;
    }
    return 0;
}

static char *checkpoint_dir(const char *ckpt)
{
    char *copy = xstrdup(ckpt), *dir = xstrdup(dirname(copy));
    free(copy);
    return dir;
}

/* DIR/config.json into settings; its fingerprint into hash. */
static int load_config(const char *dir, Settings *s, char hash[17], char *err, size_t errlen)
{
    JsonValue *cfg = rundir_read_config(dir, hash, err, errlen);
    if (!cfg) return -1;
    char *path = xprintf("%s/config.json", dir);
    int rc = settings_from_json(cfg, path, s, err, errlen);
    free(path);
    json_free(cfg);
    return rc;
}

/* ---- Checks before any work ------------------------------------------------ */

static int check_device(const char *cmd, Settings *s)
{
    Device d;
    if (!s->device) s->device = device_name(device_default());
    return device_parse(s->device, &d) ? 0 : run_usage_error(cmd, "--device expects ref, cpu or cuda, got '%s'", s->device);
}

static int check_scan(const char *cmd, const Settings *s)
{
    if (!strcmp(s->scan, "seq") || !strcmp(s->scan, "assoc")) return 0;
    return run_usage_error(cmd, "--scan expects seq or assoc, got '%s'", s->scan);
}

static int check_data(const char *cmd, const Settings *s)
{
    char err[512];
    if (!s->data) return run_usage_error(cmd, "--data is required (a dataset folder or NAME:gen[,key=value...])");
    return source_check(s->data, err, sizeof err) ? run_usage_error(cmd, "%s", err) : 0;
}

static int check_split(const char *cmd, const Settings *s, Split *split)
{
    return split_parse(s->split, split) == 0 ? 0
                                              : run_usage_error(cmd, "--split expects train, val or test, got '%s'", s->split);
}

/* ---- train -------------------------------------------------------------- */

static const char train_usage[] =
    "usage: cssmc train MODEL.cssm [-D name=value]... [-I dir]... --data SPEC [options]\n"
    "       cssmc train --resume DIR\n"
    "Trains a model with the reference recipe: softmax cross-entropy (label smoothing),\n"
    "AdamW (0.9, 0.999, 1e-8, decoupled weight decay), linear warmup over min(500, total-1)\n"
    "steps then cosine to 1% of the peak, global-norm clipping, non-finite updates skipped\n"
    "(up to 5 in a row), evaluation after every epoch, early stopping on accuracy.\n"
    "  --data SPEC            dataset folder (any released or generated layout; SCHEMA:DIR\n"
    "                         names the schema, e.g. girik:DIR), or NAME:gen[,key=value...]\n"
    "                         to generate samples on the fly (see cssmc data gen --help)\n"
    "  --epochs N             epochs (100)         --steps N      exactly N steps instead (0: off)\n"
    "  --batch N              batch size (8)       --lr X         peak learning rate (1e-4)\n"
    "  --weight-decay X       AdamW decay (1e-4)   --no-decay A,B parameters with a path\n"
    "                         component A or B are not decayed (default: all decay, as main.py)\n"
    "  --warmup N             warmup steps (default -1: min(500, total-1), the reference's)\n"
    "  --grad-clip X          global-norm clip (1.0; 0 turns it off)\n"
    "  --label-smoothing X    (0)                  --patience N   early stopping (10; 0 off)\n"
    "  --seed N               initialisation and data order (42)\n"
    "  --device ref|cpu|cuda  (default: the fastest present)\n"
    "  --scan seq|assoc       the order scans are evaluated in (seq)\n"
    "  --bn-train-mode        BatchNorm evaluates with batch statistics, not its running\n"
    "                         averages (the reference's --bn_train_mode)\n"
    "  --out DIR              run directory (default runs/MODEL-TIME; must be new or empty)\n"
    "  --resume DIR           continue the run in DIR from its last checkpoint; its settings\n"
    "                         come from DIR/config.json (flags given again must agree)\n"
    "  --save-every N         steps between checkpoints (100; 0: at epoch ends only)\n"
    "  --log-every N          steps between log lines (10)   --quiet   no progress display\n"
    "  -D name=value, -I dir, --model NAME   as for cssmc MODEL.cssm\n"
    "DIR gets config.json, metrics.jsonl, train.log, last.safetensors and best.safetensors\n"
    "(lowest evaluation loss). The reported metric is the best evaluation accuracy.\n";

static int check_fresh(const char *cmd, Settings *s)
{
    int rc;
    if (!s->model) return run_usage_error(cmd, "no model file given");
    if ((rc = check_data(cmd, s)) || (rc = check_device(cmd, s)) || (rc = check_scan(cmd, s))) return rc;
    if (!s->out) s->out = default_out(s->model);
    absolute_paths(s);
    return check_out(cmd, s->out);
}

static bool same_strings(const StrVec *a, const StrVec *b)
{
    if (a->len != b->len) return false;
    for (int i = 0; i < a->len; i++)
        if (strcmp(a->data[i], b->data[i])) return false;
    return true;
}

static bool same_flag(const Flag *f, const Settings *a, const Settings *b)
{
    const void *p = cfield(a, f), *q = cfield(b, f);
    switch (f->type) {
    case FT_INT: return *(const int64_t *)p == *(const int64_t *)q;
    case FT_REAL: return *(const double *)p == *(const double *)q;
    case FT_LIST: return same_strings(p, q);
    case FT_BOOL: return *(const bool *)p == *(const bool *)q;
    case FT_TEXT: {
        const char *x = *(const char *const *)p, *y = *(const char *const *)q;
        return x == y || (x && y && !strcmp(x, y));
    }
    }
    return false;
}

/* Flags given with --resume must agree with the run's config.json. */
static int agree(const char *cmd, Settings *cli, const Settings *run, const char *dir)
{
    absolute_paths(cli);
    for (size_t k = 0; k < COUNT_OF(FLAGS); k++) {
        const Flag *f = &FLAGS[k];
        if (f->key && !f->cosmetic && (cli->given >> k & 1) && !same_flag(f, cli, run))
            return run_usage_error(cmd, "--resume %s: %s differs from the run's (%s/config.json)", dir, f->name, dir);
    }
    if (cli->model && strcmp(cli->model, run->model))
        return run_usage_error(cmd, "--resume %s: the run trains %s, not %s", dir, run->model, cli->model);
    if (cli->given_model && (!same_strings(&cli->defines, &run->defines) || !same_strings(&cli->includes, &run->includes)))
        return run_usage_error(cmd, "--resume %s: -D/-I differ from the run's (%s/config.json)", dir, dir);
    return 0;
}

static int load_resume(const char *cmd, Settings *cli, Settings *run, char hash[17])
{
    char err[512];
    const char *dir = cli->resume;
    if (cli->out) return run_usage_error(cmd, "--resume %s continues in %s; leave out --out", dir, dir);
    if (load_config(dir, run, hash, err, sizeof err)) return run_usage_error(cmd, "--resume: %s", err);
    int rc = agree(cmd, cli, run, dir);
    if (rc) return rc;
    run->resume = run->out = dir;
    run->quiet = cli->quiet;
    if (given(cli, S(log_every))) run->log_every = cli->log_every;
    if ((rc = check_data(cmd, run)) || (rc = check_device(cmd, run))) return rc;
    return check_scan(cmd, run);
}

static void jw_key_int(JsonWriter *w, const char *k, int64_t v) { jw_key(w, k), jw_int(w, v); }

static void jw_resolved(JsonWriter *w, const Engine *en, const Settings *s, const DataSource *src)
{
    int64_t per_epoch, total, epochs;
    plan_steps(source_size(src, SPLIT_TRAIN), en->m.batch, s->epochs, s->steps, &per_epoch, &total, &epochs);
    Split ev = source_eval_split(src);
    jw_key(w, "resolved");
    jw_object(w);
    jw_key(w, "input");
    jw_array(w);
    int64_t dims[5] = {en->m.batch, en->frames, en->height, en->width, 3};
    for (int i = 0; i < 5; i++) jw_int(w, dims[i]);
    jw_end_array(w);
    jw_key_int(w, "classes", en->m.classes);
    jw_key_int(w, "parameters", en->m.total);
    jw_key_int(w, "parameter_tensors", en->m.nparams);
    jw_key(w, "data"), jw_string(w, source_describe(src));
    jw_key_int(w, "train_samples", source_size(src, SPLIT_TRAIN));
    jw_key(w, "eval_split"), jw_string(w, split_name(ev));
    jw_key_int(w, "eval_samples", source_size(src, ev));
    jw_key_int(w, "steps_per_epoch", per_epoch);
    jw_key_int(w, "total_steps", total);
    jw_key_int(w, "epochs", epochs);
    jw_key_int(w, "warmup", MIN(s->warmup < 0 ? (int64_t)SCHED_WARMUP_CAP : s->warmup, MAX(total - 1, 0)));
    jw_end_object(w);
}

static void jw_optimizer(JsonWriter *w, const AdamWConfig *c)
{
    jw_key(w, "optimizer");
    jw_object(w);
    jw_key(w, "name"), jw_string(w, "adamw");
    jw_key(w, "b1"), jw_double(w, c->b1);
    jw_key(w, "b2"), jw_double(w, c->b2);
    jw_key(w, "eps"), jw_double(w, c->eps);
    jw_key_int(w, "max_consecutive_skips", c->max_consecutive_skips);
    jw_key(w, "update"), jw_string(w, "host");
    jw_end_object(w);
}

static char *config_text(const Settings *s, const Engine *en, const DataSource *src, const AdamWConfig *adam)
{
    size_t len = 0;
    char *source = read_text(s->model, &len), hex[CSSM_KEY_LEN + 1];
    CssmHash h;
    cssm_hash_init(&h);
    cssm_hash_update(&h, source ? source : "", len);
    cssm_hash_hex(&h, hex);
    JsonWriter w;
    jw_init(&w, 0);
    jw_object(&w);
    jw_key(&w, "cssmc_version"), jw_string(&w, CSSM_VERSION);
    jw_settings(&w, s);
    jw_key(&w, "model_sha256"), jw_string(&w, hex);
    jw_key(&w, "model_source"), jw_string(&w, source ? source : "");
    jw_optimizer(&w, adam);
    jw_resolved(&w, en, s, src);
    jw_end_object(&w);
    free(source);
    char *text = jw_take(&w);
    jw_free(&w);
    return text;
}

static void train_options(const Settings *s, TrainOptions *o)
{
    *o = (TrainOptions){.dir = s->out, .epochs = s->epochs, .steps = s->steps, .lr = s->lr, .warmup = s->warmup,
                        .adamw = adamw_defaults(), .no_decay = s->no_decay.data, .n_no_decay = s->no_decay.len,
                        .label_smoothing = s->label_smoothing, .patience = s->patience, .seed = (uint64_t)s->seed,
                        .save_every = s->save_every,
                        .metrics = {.quiet = s->quiet, .log_every = (int)MIN(s->log_every, INT_MAX)}};
    o->adamw.weight_decay = s->weight_decay;
    o->adamw.grad_clip = s->grad_clip;
}

/* A fresh run: the directory, the initial parameters, config.json. */
static int start_run(const char *cmd, const Settings *s, Engine *en, const DataSource *src, TrainOptions *to)
{
    char err[512];
    if (rundir_prepare(s->out, false, err, sizeof err)) return run_failure(cmd, err);
    char *text = config_text(s, en, src, &to->adamw);
    int rc = rundir_write_config(s->out, text, to->config_hash, err, sizeof err);
    free(text);
    return rc ? run_failure(cmd, err) : 0;
}

static void print_summary(const TrainSummary *r, const char *dir)
{
    const char *split = split_name(r->eval_split);
    printf("trained %lld of %lld steps in %.1f s%s\n", (long long)r->steps, (long long)r->total_steps, r->seconds,
           r->early_stopped ? " (stopped early)" : "");
    if (isfinite(r->best_val_loss))
        printf("best %s accuracy %.4f; best checkpoint (lowest %s loss %.4f): %s/best.safetensors\n", split,
               r->best_val_acc, split, r->best_val_loss, dir);
    else
        printf("best %s accuracy %.4f; no finite %s loss, so no best checkpoint\n", split, r->best_val_acc, split);
    printf("run directory: %s\n", dir);
}

static int train_with(const char *cmd, Settings *s, const char *hash)
{
    Engine en;
    char err[512];
    int rc = engine_open(&en, s, ENGINE_TRAIN, cmd);
    if (rc) return rc;
    DataSource *src = source_open(s->data, en.frames, en.height, en.width, err, sizeof err);
    TrainOptions to;
    train_options(s, &to);
    if (!src) rc = run_failure(cmd, err);
    else if (!s->resume) rc = start_run(cmd, s, &en, src, &to);
    else snprintf(to.config_hash, sizeof to.config_hash, "%s", hash);
    if (!rc) {
        char *last = xprintf("%s/last.safetensors", s->out);
        to.resume = s->resume && is_file(last);   /* killed before its first checkpoint: from the start */
        free(last);
        init_model(&en.m, en.fwd.g, (uint64_t)s->seed);
        TrainSummary sum;
        if (train_run(&en.m, src, &to, &sum, err, sizeof err)) rc = run_failure(cmd, err);
        else print_summary(&sum, s->out);
    }
    source_close(src);
    engine_close(&en);
    return rc;
}

int cmd_train(int argc, char **argv)
{
    Settings cli, run;
    const char *pos[1];
    int npos;
    char hash[17] = "";
    int rc = parse_args(argc, argv, CMD_TRAIN, train_usage, &cli, pos, 1, &npos);
    if (rc) return rc < 0 ? 0 : rc;
    if (npos) cli.model = pos[0], cli.given_model = true;
    if (cli.resume) rc = load_resume(argv[0], &cli, &run, hash);
    else rc = check_fresh(argv[0], &cli), run = cli;
    return rc ? rc : train_with(argv[0], &run, hash);
}

/* ---- eval and predict ------------------------------------------------------ */

static const char eval_usage[] =
    "usage: cssmc eval CHECKPOINT [MODEL.cssm] [-D name=value]... [--data SPEC] [--split S]\n"
    "                  [--batch N] [--device D] [--label-smoothing X] [--bn-train-mode]\n"
    "Loss and accuracy of a checkpoint's parameters on a split (default test) of SPEC. The\n"
    "model, its -D values and the data come from the config.json beside CHECKPOINT unless\n"
    "given; -D values given here override the run's. BatchNorm uses the checkpoint's\n"
    "running averages, or with --bn-train-mode each batch's statistics.\n";

static const char predict_usage[] =
    "usage: cssmc predict CHECKPOINT [MODEL.cssm] [-D name=value]... [--data SPEC] [--split S]\n"
    "                     --out LOGITS.npy [--batch N] [--device D] [--bn-train-mode]\n"
    "Writes the logits of every sample of a split (default test), float32 [samples, classes],\n"
    "in the split's order. Model and data as for cssmc eval.\n";

/* -D values given on the command line replace the run's of the same name. */
static void merge_defines(StrVec *run, const StrVec *extra)
{
    for (int i = 0; i < extra->len; i++) {
        const char *d = extra->data[i];
        size_t n = (size_t)(strchr(d, '=') - d);
        int k = 0;
        while (k < run->len && strncmp(run->data[k], d, n + 1) != 0) k++;
        if (k < run->len) run->data[k] = d;
        else vec_push(run, d);
    }
}

/* The run's settings beside the checkpoint, with the command line's on top. */
static int eval_settings(const char *cmd, Settings *cli, const char *ckpt, Settings *s)
{
    char err[512], hash[17];
    char *dir = checkpoint_dir(ckpt);
    int rc = load_config(dir, s, hash, err, sizeof err);
    free(dir);
    if (rc) return run_usage_error(cmd, "%s (or name the model: cssmc %s CHECKPOINT MODEL.cssm ...)", err, cmd);
    merge_defines(&s->defines, &cli->defines);
    for (int i = 0; i < cli->includes.len; i++) vec_push(&s->includes, cli->includes.data[i]);
    if (given(cli, S(data))) s->data = cli->data;
    if (given(cli, S(batch))) s->batch = cli->batch;
    if (given(cli, S(device))) s->device = cli->device;
    if (given(cli, S(label_smoothing))) s->label_smoothing = cli->label_smoothing;
    if (given(cli, S(model_name))) s->model_name = cli->model_name;
    if (given(cli, S(scan))) s->scan = cli->scan;
    if (given(cli, S(bn_train_mode))) s->bn_train_mode = true;
    s->split = cli->split;
    s->out = cli->out;
    s->index = cli->index;
    return 0;
}

int eval_open(int argc, char **argv, unsigned bit, const char *usage, EvalJob *job, Settings *s)
{
    Settings cli;
    const char *pos[2], *cmd = argv[0];
    int npos;
    char err[512];
    int rc = parse_args(argc, argv, bit, usage, &cli, pos, 2, &npos);
    if (rc) return rc;
    if (!npos) return run_usage_error(cmd, "no checkpoint given");
    job->ckpt = pos[0];
    if (!is_file(job->ckpt)) return run_usage_error(cmd, "%s: no such checkpoint file", job->ckpt);
    if (npos == 2) cli.model = pos[1], *s = cli;
    else if ((rc = eval_settings(cmd, &cli, job->ckpt, s))) return rc;
    if ((rc = check_split(cmd, s, &job->split)) || (rc = check_data(cmd, s)) || (rc = check_device(cmd, s))
        || (rc = check_scan(cmd, s)))
        return rc;
    if (bit == CMD_PREDICT && !s->out) return run_usage_error(cmd, "--out LOGITS.npy is required");
    if (bit == CMD_INSPECT && !s->out) return run_usage_error(cmd, "--out DIR is required");
    if ((rc = engine_open(&job->en, s, bit == CMD_INSPECT ? ENGINE_INSPECT : ENGINE_EVAL, cmd))) return rc;
    job->src = source_open(s->data, job->en.frames, job->en.height, job->en.width, err, sizeof err);
    if (!job->src) return run_failure(cmd, err);
    TrainState st;
    const TrainModel *m = &job->en.m;
    if (ckpt_load(job->ckpt, m->params, m->nparams, m->stats, m->nstats, NULL, &st, err, sizeof err))
        return run_failure(cmd, err);
    return 0;
}

void eval_close(EvalJob *job)
{
    source_close(job->src);
    engine_close(&job->en);
}

int cmd_eval(int argc, char **argv)
{
    EvalJob job = {0};
    Settings s;
    char err[512];
    int rc = eval_open(argc, argv, CMD_EVAL, eval_usage, &job, &s);
    EvalResult r;
    if (rc == 0 && evaluate_split(&job.en.m, job.src, job.split, s.label_smoothing, &r, NULL, err, sizeof err))
        rc = run_failure(argv[0], err);
    else if (rc == 0)
        printf("%s: %s split, %lld samples: loss %.6f, accuracy %.6f\n", job.ckpt, split_name(job.split),
               (long long)r.samples, r.loss, r.acc);
    eval_close(&job);
    return rc < 0 ? 0 : rc;
}

int cmd_predict(int argc, char **argv)
{
    EvalJob job = {0};
    Settings s;
    char err[512];
    int rc = eval_open(argc, argv, CMD_PREDICT, predict_usage, &job, &s);
    if (rc) return eval_close(&job), rc < 0 ? 0 : rc;
    int64_t n = source_size(job.src, job.split), shape[2] = {n, job.en.m.classes};
    float *logits = xmalloc(sizeof(float) * (size_t)MAX(n, 1) * (size_t)job.en.m.classes);
    EvalResult r;
    if (evaluate_split(&job.en.m, job.src, job.split, 0, &r, logits, err, sizeof err) ||
        npy_write(s.out, "<f4", 2, shape, logits, err, sizeof err))
        rc = run_failure(argv[0], err);
    else
        printf("wrote the logits of %lld %s samples (accuracy %.6f) to %s\n", (long long)n, split_name(job.split),
               r.acc, s.out);
    free(logits);
    eval_close(&job);
    return rc;
}

