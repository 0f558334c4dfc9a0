/* driver.c: the pipeline (parse, build, shapes, autodiff, simplify) and the
 * commands that run it. */
#include "commands.h"
#include <stdio.h>

int cmd_summary(int argc, char **argv)
{
    fprintf(stderr, "cssmc: error: the compiler pipeline is not built yet\n");
    return 1;
}
