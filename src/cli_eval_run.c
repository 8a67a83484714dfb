/* cli_eval_run.c - placeholder: this subcommand is being written (see the open issues). */
#include <stdio.h>

#include "cli.h"

int cli_eval_run(int argc, char **argv) {
    (void)argc;
    (void)argv;
    fprintf(stderr, "graft: this command is not implemented yet\n");
    return 2;
}
