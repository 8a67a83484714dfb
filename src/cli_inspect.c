/* cli_inspect.c - `graft inspect FILE.gguf` (placeholder until the GGUF reader lands). */
#include <stdio.h>

#include "cli.h"

int cli_inspect(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "graft inspect: not implemented yet\n");
    return 1;
}
