/* emit.c: the commands that show or check generated code without running it.
 *
 *   cssmc emit --c|--cuda MODEL.cssm [--grad] ...   prints the rendered source
 *   cssmc compile MODEL.cssm [--arch sm_80,sm_90] [--grad] ...
 *                                    compiles every CUDA kernel with NVRTC
 *                                    for each architecture and reports the
 *                                    count; exit 1 on any failure
 * Both take the model options of every command (-D, -I, --batch, --model,
 * --block, -d). NVRTC needs no GPU or driver, so `compile` checks the CUDA
 * side of the back end on any machine with a CUDA toolkit; its cubins land
 * in the kernel cache, where the cuda device finds them. */
#include "driver.h"
#include "commands.h"
#include "jit.h"
#include "kernel.h"
#include "optimizer.h"

#include <stdio.h>
#include <string.h>

static const char emit_usage[] =
    "usage: cssmc emit --c|--cuda MODEL.cssm [-D name=value]... [-I dir]... [--batch N] [--model NAME]\n"
    "                  [--block NAME] [--grad | --optimizer] [-dLETTERS]\n"
    "Prints the source the cpu (--c) or cuda (--cuda) device compiles for the model:\n"
    "every fused kernel, each headed by the IR nodes it computes and their .cssm lines.\n"
    "  --grad        the differentiated graph (forward and backward)\n"
    "  --optimizer   the AdamW update over the model's parameters, as cssmc train runs it\n";

/* The model's graph, or with optimizer the AdamW update over its parameters. */
static Lowered *lowered_model(Options *o, bool grad, bool optimizer)
{
    Graph *g = compile_model(o, grad && !optimizer);
    if (g && optimizer) {
        int64_t n = graph_param_count(g);
        graph_free(g);
        g = adamw_graph(n ? n : 1);
    }
    return g ? lower(g, &(LowerOptions){.fuse = true}) : NULL;
}

static void free_lowered(Lowered *p)
{
    Graph *g = p->g;
    program_free(p);
    graph_free(g);
}

int cmd_emit(int argc, char **argv)
{
    bool c = take_flag(&argc, argv, "--c"), cuda = take_flag(&argc, argv, "--cuda");
    bool grad = take_flag(&argc, argv, "--grad"), optimizer = take_flag(&argc, argv, "--optimizer");
    Options o;
    int rc = parse_options(argc, argv, OPT_MODEL | OPT_BLOCK, emit_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (c == cuda) {
        fprintf(stderr, "cssmc emit: error: give exactly one of --c and --cuda (try cssmc emit --help)\n");
        return 2;
    }
    Lowered *p = lowered_model(&o, grad, optimizer);
    if (!p) return 1;
    char *src = c ? render_c(p) : render_cuda(p, NULL);
    fputs(src, stdout);
    free(src);
    free_lowered(p);
    return 0;
}

static const char compile_usage[] =
    "usage: cssmc compile MODEL.cssm [--arch LIST] [--grad | --optimizer] [-D name=value]... [-I dir]...\n"
    "                     [--batch N] [--model NAME] [--block NAME] [-dLETTERS]\n"
    "Compiles every generated CUDA kernel of the model with NVRTC (no GPU needed) and\n"
    "reports how many; exit status 1 if any fails, with the kernel and NVRTC's log.\n"
    "  --arch LIST   comma-separated targets (default sm_80,sm_90)\n"
    "  --grad        the differentiated graph (forward and backward)\n"
    "  --optimizer   the AdamW update over the model's parameters, as cssmc train runs it\n";

/* An op the cuda device has no kernel for: an error naming it. */
static bool check_no_fallbacks(const Lowered *p)
{
    bool ok = true;
    for (int i = 0; i < p->steps.len; i++) {
        if (p->steps.data[i].kind != STEP_FALLBACK) continue;
        const Node *n = node_at(p->g, p->steps.data[i].node);
        fprintf(stderr, "cssmc compile: error: no CUDA kernel for %%%d = %s", p->steps.data[i].node, op_info[n->op].spelling);
        if (n->loc.file) fprintf(stderr, " (%s:%d:%d)", n->loc.file->path, n->loc.line, n->loc.col);
        fputc('\n', stderr);
        ok = false;
    }
    return ok;
}

static bool compile_for(const Lowered *p, const char *src, const int *lines, const char *arch)
{
    CssmBinary bin;
    char *log = NULL;
    if (cssm_nvrtc_compile(src, "cssmc_kernels", arch, cuda_nvrtc_options, cuda_nvrtc_noptions, &bin, &log) < 0) {
        char *msg = cuda_log_with_kernel(p, lines, log);
        fprintf(stderr, "cssmc compile: error: %s\n", msg);
        free(msg);
        free(log);
        return false;
    }
    free(log);
    cssm_binary_free(&bin);
    return true;
}

int cmd_compile(int argc, char **argv)
{
    bool grad = take_flag(&argc, argv, "--grad"), optimizer = take_flag(&argc, argv, "--optimizer");
    const char *archs = take_value(&argc, argv, "--arch");
    Options o;
    int rc = parse_options(argc, argv, OPT_MODEL | OPT_BLOCK, compile_usage, &o);
    if (rc) return rc < 0 ? 0 : rc;
    if (archs && !*archs) {
        fprintf(stderr, "cssmc compile: error: --arch expects a list such as sm_80,sm_90\n");
        return 2;
    }
    Lowered *p = lowered_model(&o, grad, optimizer);
    if (!p) return 1;
    int *lines = xcalloc((size_t)p->kernels.len + 1, sizeof *lines);
    char *src = render_cuda(p, lines), *list = xstrdup(archs ? archs : "sm_80,sm_90"), *save;
    bool ok = check_no_fallbacks(p);
    for (char *arch = strtok_r(list, ",", &save); ok && arch; arch = strtok_r(NULL, ",", &save))
        ok = compile_for(p, src, lines, arch);
    if (ok) {
        printf("compiled %d CUDA kernels for %s; launches per run: ", p->kernels.len, archs ? archs : "sm_80,sm_90");
        print_kernel_count(stdout, p);
        fputc('\n', stdout);
    }
    free(list);
    free(src);
    free(lines);
    free_lowered(p);
    return ok ? 0 : 1;
}
