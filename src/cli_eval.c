/* cli_eval.c - `graft eval`: with --score-only it scores an existing answer file
 * (cli_eval_score.c), otherwise it runs a model over the task (cli_eval_run.c). */
#include <string.h>

#include "cli.h"

int cli_eval(int argc, char **argv) {
    for (int i = 1; i < argc; i++)
        if (!strcmp(argv[i], "--score-only")) return cli_eval_score(argc, argv);
    return cli_eval_run(argc, argv);
}
