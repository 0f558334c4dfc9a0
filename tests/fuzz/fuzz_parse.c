/* fuzz_parse.c: the libFuzzer target for the front end (`make fuzz`).
 *
 * Each input is one .cssm file, any bytes at all: it is parsed, printed
 * with ast_print (so partial trees after errors are walked too) and freed.
 * The sanitizers turn any crash, out-of-bounds access, undefined behaviour
 * or leak into a finding; libFuzzer's -timeout catches hangs. Inputs that
 * once failed belong in tests/fuzz/corpus, which test_parse_corpus replays
 * in every `make test`. diag counts errors for the whole process, so the
 * count is reset per input; the parser's own per-file limit keeps it below
 * the point where diag stops the process. */
#include "ast.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static FILE *sink;
    if (!sink) sink = fopen("/dev/null", "w");
    char *text = xmalloc(size + 1);
    memcpy(text, data, size);
    text[size] = 0;
    SrcFile file = {.path = "fuzz.cssm", .text = text, .len = size};
    diag_reset();
    Arena arena = {0};
    Program *prog = parse_file(&file, &arena);
    ast_print(sink, prog);
    arena_free(&arena);
    free(text);
    return 0;
}
