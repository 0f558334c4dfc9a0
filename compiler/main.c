/* main.c: the cssmc command line.
 *
 * `cssmc COMMAND [args]` dispatches to one function per command; a bare
 * `cssmc MODEL.cssm` is the compile-and-summarise command. Every command
 * parses its own flags and answers --help. Exit status: 0 success, 1 a
 * failure (errors in the model, a failing check), 2 a bad command line. */
#include "commands.h"

#include <stdio.h>
#include <string.h>

static const Command commands[] = {
#define COMMAND(name, fn, summary) {name, fn, summary},
#include "commands.def"
#undef COMMAND
};

static void usage(FILE *out)
{
    fputs("usage: cssmc COMMAND [options]   or   cssmc MODEL.cssm [-D name=value]...\n\n"
          "commands:\n", out);
    for (size_t i = 0; i < COUNT_OF(commands); i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fputs("\n`cssmc COMMAND --help` describes each command.\n", out);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("cssmc %s\n", CSSM_VERSION);
        return 0;
    }
    for (size_t i = 0; i < COUNT_OF(commands); i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].run(argc - 1, argv + 1);
    if (argv[1][0] == '-' || strstr(argv[1], ".cssm")) return cmd_summary(argc, argv);
    fprintf(stderr, "cssmc: error: unknown command '%s' (try cssmc --help)\n", argv[1]);
    return 2;
}
