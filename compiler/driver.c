/* driver.c: the pipeline (load, build, verify, differentiate, simplify, with
 * the -d dumps) and the commands that only compile: the summary, `check` and
 * `params`.
 *
 * Exit statuses: 0 success, 1 errors in the model, 2 a bad command line
 * (including an unknown -D name, reported before any work). */
#include "driver.h"
#include "commands.h"
#include "exec.h"
#include "kernel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* "cssmc CMD" as the user typed it: the bare `cssmc MODEL.cssm` command
 * has the empty name. */
static const char *invocation(const char *cmd) { return *cmd ? xprintf("cssmc %s", cmd) : "cssmc"; }

static int usage_error(const char *cmd, const char *fmt, const char *arg)
{
    fprintf(stderr, "%s: error: ", invocation(cmd));
    fprintf(stderr, fmt, arg);
    fprintf(stderr, " (try %s --help)\n", invocation(cmd));
    return 2;
}

static bool add_override(Options *o, const char *text)
{
    const char *eq = strchr(text, '=');
    if (!eq || eq == text || !eq[1]) return false;
    Override ov = {intern_n(text, (size_t)(eq - text)), xstrdup(eq + 1), false};
    vec_push(&o->overrides, ov);
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-') return false;
    unsigned long long v = strtoull(s, &end, 10);
    *out = v;
    return !*end;
}

/* A flag that takes a value: `--flag value` or `--flag=value`. */
static const char *flag_value(int argc, char **argv, int *i, const char *flag)
{
    size_t n = strlen(flag);
    if (!strncmp(argv[*i], flag, n) && argv[*i][n] == '=') return argv[*i] + n + 1;
    if (strcmp(argv[*i], flag)) return NULL;
    if (*i + 1 >= argc) return "";
    return argv[++*i];
}

static int parse_flag(int argc, char **argv, int *i, unsigned acc, Options *o)
{
    const char *a = argv[*i], *v;
    const char *cmd = o->command;
    if ((acc & OPT_MODEL) && !strncmp(a, "-D", 2)) {
        const char *text = a[2] ? a + 2 : (*i + 1 < argc ? argv[++*i] : "");
        return add_override(o, text) ? 0 : usage_error(cmd, "-D expects name=value, got '%s'", text);
    }
    if ((acc & OPT_MODEL) && !strncmp(a, "-I", 2)) {
        const char *dir = a[2] ? a + 2 : (*i + 1 < argc ? argv[++*i] : "");
        if (!*dir) return usage_error(cmd, "-I expects a folder%s", "");
        vec_push(&o->includes, dir);
        return 0;
    }
    if ((acc & OPT_MODEL) && !strncmp(a, "-d", 2) && a[2] && a[2] != '-') {
        if (strspn(a + 2, "PSAOFL") != strlen(a + 2)) return usage_error(cmd, "-d takes letters from PSAOFL, got '%s'", a + 2);
        o->dumps = a + 2;
        return 0;
    }
    uint64_t n;
    if ((acc & OPT_MODEL) && (v = flag_value(argc, argv, i, "--batch")))
        return parse_u64(v, &n) && n > 0 ? (o->batch = (int64_t)n, 0) : usage_error(cmd, "--batch expects a positive integer, got '%s'", v);
    if ((acc & OPT_MODEL) && (v = flag_value(argc, argv, i, "--model"))) return o->model_name = v, 0;
    if ((acc & OPT_MODEL) && (v = flag_value(argc, argv, i, "--scan"))) {
        if (strcmp(v, "seq") && strcmp(v, "assoc")) return usage_error(cmd, "--scan expects seq or assoc, got '%s'", v);
        return o->scan_assoc = !strcmp(v, "assoc"), 0;
    }
    if ((acc & OPT_MODEL) && !strcmp(a, "--training")) return o->mode.training = true, 0;
    if ((acc & OPT_MODEL) && !strcmp(a, "--bn-train-mode")) return o->mode.bn_batch_stats = true, 0;
    if ((acc & OPT_BLOCK) && (v = flag_value(argc, argv, i, "--block"))) return o->block = v, 0;
    if ((acc & OPT_EXEC) && (v = flag_value(argc, argv, i, "--device"))) {
        Device d;
        if (!device_parse(v, &d)) return usage_error(cmd, "--device expects ref, cpu or cuda, got '%s'", v);
        return o->device = v, 0;
    }
    if ((acc & OPT_EXEC) && !strcmp(a, "--f64")) return o->f64 = true, 0;
    if ((acc & OPT_EXEC) && (v = flag_value(argc, argv, i, "--seed")))
        return parse_u64(v, &o->seed) ? 0 : usage_error(cmd, "--seed expects a non-negative integer, got '%s'", v);
    if ((acc & OPT_IO) && (v = flag_value(argc, argv, i, "--input"))) return *v ? (o->input = v, 0) : usage_error(cmd, "--input expects a file%s", "");
    if ((acc & OPT_IO) && (v = flag_value(argc, argv, i, "--out"))) return *v ? (o->out = v, 0) : usage_error(cmd, "--out expects a file%s", "");
    return usage_error(cmd, "unknown option '%s'", a);
}

bool take_flag(int *argc, char **argv, const char *flag)
{
    int w = 1;
    bool seen = false;
    for (int i = 1; i < *argc; i++) {
        if (!strcmp(argv[i], flag)) seen = true;
        else argv[w++] = argv[i];
    }
    *argc = w;
    return seen;
}

const char *take_value(int *argc, char **argv, const char *flag)
{
    int w = 1;
    const char *v = NULL;
    for (int i = 1; i < *argc; i++) {
        const char *got = flag_value(*argc, argv, &i, flag);
        if (got) v = got;
        else argv[w++] = argv[i];
    }
    *argc = w;
    return v;
}

int parse_options(int argc, char **argv, unsigned accepted, const char *usage, Options *o)
{
    memset(o, 0, sizeof *o);
    o->command = argv[0];
    o->batch = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(usage, stdout);
            return -1;
        }
        if (argv[i][0] == '-' && argv[i][1]) {
            int rc = parse_flag(argc, argv, &i, accepted, o);
            if (rc) return rc;
        } else if (!o->model_path) o->model_path = argv[i];
        else vec_push(&o->rest, argv[i]);
    }
    if (!o->model_path) return usage_error(o->command, "no model file given%s", "");
    if ((accepted & OPT_EXEC) && !o->device) o->device = device_name(device_default());
    return 0;
}

const char *models_dir(void)
{
    static char dir[4096];
    if (dir[0]) return dir;
    const char *env = getenv("CSSM_MODELS");
    if (env && *env) return snprintf(dir, sizeof dir, "%s", env), dir;
    ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 32);
    if (n <= 0) return strcpy(dir, "models");
    dir[n] = 0;
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    strcat(dir, "/../models");
    return dir;
}

/* ---- -D names must exist somewhere ---- */

static bool declared_in(const Module *m, const char *name, const Module **seen, int *nseen)
{
    for (int i = 0; i < *nseen; i++)
        if (seen[i] == m) return false;
    if (*nseen < 256) seen[(*nseen)++] = m;
    for (int i = 0; i < m->prog->items.len; i++) {
        Item *it = m->prog->items.data[i];
        for (int k = 0; k < it->formals.len; k++)
            if (it->formals.data[k].name == name && !it->formals.data[k].type) return true;
    }
    for (int i = 0; i < m->imports.len; i++)
        if (declared_in(m->imports.data[i], name, seen, nseen)) return true;
    return false;
}

static const char *const harness_names[] = {"batch", "seq_len", "image_size", "embed_dim"};

static bool check_override_names(Options *o, const Module *m)
{
    for (int i = 0; i < o->overrides.len; i++) {
        const Module *seen[256];
        int nseen = 0;
        const char *name = o->overrides.data[i].name;
        bool harness = false;
        for (size_t k = 0; k < COUNT_OF(harness_names) && o->block; k++) harness |= !strcmp(harness_names[k], name);
        if (harness || declared_in(m, name, seen, &nseen)) continue;
        fprintf(stderr, "%s: error: -D %s: no hyperparameter named %s in %s or its imports\n",
                invocation(o->command), name, name, o->model_path);
        return false;
    }
    return true;
}

/* ---- the pipeline ---- */

static bool wants(Options *o, char letter) { return o->dumps && strchr(o->dumps, letter); }

static bool verified(Graph *g, const char *pass)
{
    if (verify_graph(g, pass) == 0) return true;
    fprintf(stderr, "cssmc: internal error: the IR is invalid after %s\n", pass);
    abort();
}

static void dump(Options *o, char letter, const char *title, Graph *g)
{
    if (!wants(o, letter)) return;
    printf("## %s\n", title);
    print_graph(stdout, g);
}

/* -dF and -dL: the fusion groups and the kernel list of the final graph. */
static void dump_lowered(Options *o, Graph *g)
{
    if (!wants(o, 'F') && !wants(o, 'L')) return;
    Lowered *p = lower(g, &(LowerOptions){.fuse = true});
    if (wants(o, 'F')) print_fusion(stdout, p);
    if (wants(o, 'L')) print_program(stdout, p);
    program_free(p);
}

/* --scan: the evaluation order of every SCAN node, forward and backward
 * (an executor switch carried on the nodes, spec/models.md §2.5). */
static void set_scan_order(Options *o, Graph *g)
{
    for (int i = 0; i < g->nodes.len; i++)
        if (g->nodes.data[i].op == IR_SCAN) g->nodes.data[i].attr.assoc = o->scan_assoc;
}

Graph *compile_model(Options *o, bool grad)
{
    static Arena arena;
    ModuleLoader ml = {.arena = &arena};
    for (int i = 0; i < o->includes.len; i++) vec_push(&ml.search, o->includes.data[i]);
    vec_push(&ml.search, models_dir());
    Module *m = module_load(&ml, o->model_path);
    if (!m || diag_error_count()) return NULL;
    if (wants(o, 'P')) {
        printf("## parse\n");
        ast_print(stdout, m->prog);
    }
    if (!check_override_names(o, m)) exit(2);
    Graph *g = o->block ? build_block(m, o->block, o->overrides.data, o->overrides.len, o->batch, o->mode)
                        : build_model(m, o->model_name, o->overrides.data, o->overrides.len, o->batch, o->mode);
    if (!g) return NULL;
    verified(g, "build");
    set_scan_order(o, g);
    dump(o, 'S', "shapes", g);
    if (!grad) {
        dump_lowered(o, g);
        return g;
    }
    differentiate(g, o->grad_input ? AD_INPUT : AD_PARAMS);
    verified(g, "autodiff");
    set_scan_order(o, g);
    dump(o, 'A', "autodiff", g);
    g = simplify(g);
    verified(g, "simplify");
    dump(o, 'O', "simplify", g);
    dump_lowered(o, g);
    return g;
}

Graph *compile_training(Options *o)
{
    o->mode.training = true;
    Graph *g = compile_model(o, false);
    if (!g) return NULL;
    append_xent_loss(g);
    verified(g, "loss");
    differentiate(g, AD_PARAMS);
    verified(g, "autodiff");
    set_scan_order(o, g);
    g = simplify(g);
    verified(g, "simplify");
    return g;
}

/* ---- commands that only compile ---- */

static const char summary_usage[] =
    "usage: cssmc MODEL.cssm [-D name=value]... [-I dir]... [--batch N] [--model NAME] [-dLETTERS]\n"
    "Compiles the model and prints a summary (inputs, output, parameter count).\n"
    "  -D name=value   override a hyperparameter (any default of any block)\n"
    "  -I dir          search dir for imports (before the installed models/)\n"
    "  --batch N       batch size of the model input (default 2)\n"
    "  --model NAME    which model of the file (default: the first)\n"
    "  --scan ORDER    seq (default) or assoc: the order executors evaluate scans in\n"
    "  --training      the training-mode graph: drop-path masks as inputs \"rng.*\", BatchNorm\n"
    "                  with batch statistics, probing its running averages' next values\n"
    "  --bn-train-mode BatchNorm with batch statistics outside training too\n"
    "  -dLETTERS       print the IR after: P parse, S shapes, A autodiff, O simplify,\n"
    "                  F fusion (the groups), L lowering (the kernel list)\n";

static void print_summary(Options *o, Graph *g)
{
    char buf[512];
    printf("model %s\n", o->model_path);
    for (int i = 0; i < g->inputs.len; i++) {
        Node *n = node_at(g, g->inputs.data[i].node);
        printf("input %s : %s\n", g->inputs.data[i].name, shape_str(n->dtype, &n->shape, buf, sizeof buf));
    }
    Node *out = node_at(g, g->output);
    printf("output : %s\n", shape_str(out->dtype, &out->shape, buf, sizeof buf));
    int tensors = 0;
    for (int i = 0; i < g->params.len; i++) tensors += !g->params.data[i].state;
    printf("parameters: %lld\n", (long long)graph_param_count(g));
    printf("parameter tensors: %d\n", tensors);
    if (tensors < g->params.len)
        printf("running statistics: %lld in %d tensors (not trained)\n", (long long)graph_state_count(g),
               g->params.len - tensors);
    printf("nodes: %d\n", g->nodes.len);
    for (int i = 0; i < g->probes.len; i++) printf("probe %s\n", g->probes.data[i].name);
}

int cmd_summary(int argc, char **argv)
{
    Options o;
    char *args[argc + 1];
    args[0] = "";
    for (int i = 1; i < argc; i++) args[i] = argv[i];
    int rc = parse_options(argc, args, OPT_MODEL, summary_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    bool grad = wants(&o, 'A') || wants(&o, 'O');
    Graph *g = compile_model(&o, grad);
    if (!g) return 1;
    if (!o.dumps) print_summary(&o, g);
    graph_free(g);
    return 0;
}

static const char check_usage[] =
    "usage: cssmc check MODEL.cssm [-D name=value]... [-I dir]... [--model NAME]\n"
    "Parses, instantiates and type-checks the model, and differentiates it.\n"
    "Exit status 0 when it is correct; otherwise errors as file:line:col.\n";

int cmd_check(int argc, char **argv)
{
    Options o;
    int rc = parse_options(argc, argv, OPT_MODEL | OPT_BLOCK, check_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    Graph *g = compile_model(&o, true);
    if (!g) return 1;
    graph_free(g);
    return 0;
}

static const char params_usage[] =
    "usage: cssmc params MODEL.cssm [-D name=value]... [-I dir]... [--model NAME]\n"
    "Lists every parameter: path, shape, initialiser, element count; then the running\n"
    "statistics (BatchNorm's averages), which are kept and saved but not trained.\n";

static const char *init_name(Init in, char *buf, size_t n)
{
    static const char *names[] = {"zeros", "ones", "constant", "normal", "trunc_normal", "uniform",
                                  "lecun_normal", "xavier_normal", "xavier_uniform"};
    if (in.kind == INIT_CONSTANT || in.kind == INIT_NORMAL || in.kind == INIT_TRUNC_NORMAL)
        snprintf(buf, n, "%s(%g)", names[in.kind], in.a);
    else if (in.kind == INIT_UNIFORM) snprintf(buf, n, "uniform(%g, %g)", in.a, in.b);
    else snprintf(buf, n, "%s", names[in.kind]);
    return buf;
}

int cmd_params(int argc, char **argv)
{
    Options o;
    int rc = parse_options(argc, argv, OPT_MODEL | OPT_BLOCK, params_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    Graph *g = compile_model(&o, false);
    if (!g) return 1;
    char sbuf[256], ibuf[64];
    for (int i = 0; i < g->params.len; i++) {
        Param *p = &g->params.data[i];
        printf("%-40s %-28s %-18s %lld%s\n", p->path, shape_str(DT_F32, &p->shape, sbuf, sizeof sbuf),
               init_name(p->init, ibuf, sizeof ibuf), (long long)shape_numel(&p->shape),
               p->state ? "  (running statistic)" : "");
    }
    printf("parameters: %lld\n", (long long)graph_param_count(g));
    if (graph_state_count(g)) printf("running statistics: %lld\n", (long long)graph_state_count(g));
    graph_free(g);
    return 0;
}
