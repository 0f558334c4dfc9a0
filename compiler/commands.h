/* commands.h: the entry point of every cssmc command.
 *
 * Each command is `int cmd_NAME(int argc, char **argv)` with argv[0] the
 * command name; it returns the process exit status (0 ok, 1 failure, 2 bad
 * command line). commands.def lists them for main.c's dispatch table. */
#ifndef CSSM_COMMANDS_H
#define CSSM_COMMANDS_H

#include "base.h"

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} Command;

#define COMMAND(name, fn, summary) int fn(int argc, char **argv);
#include "commands.def"
#undef COMMAND
int cmd_summary(int argc, char **argv);

#endif
