/* cli.h - the subcommands of the graft CLI; each returns the process exit status. */
#ifndef GRAFT_CLI_H
#define GRAFT_CLI_H

int cli_version(int argc, char **argv);
int cli_inspect(int argc, char **argv);
int cli_run(int argc, char **argv);
int cli_init(int argc, char **argv);
int cli_encode(int argc, char **argv);
int cli_preprocess(int argc, char **argv);
int cli_tokenize(int argc, char **argv);
int cli_convert(int argc, char **argv);   /* cli_convert.c: HF directory -> GGUF */
int cli_quantize(int argc, char **argv);  /* cli_quantize.c: GGUF -> GGUF of another type */
int cli_eval(int argc, char **argv);      /* cli_eval.c: dispatches to the two below */
int cli_eval_run(int argc, char **argv);  /* cli_eval_run.c: run a model over a task */
int cli_eval_score(int argc, char **argv); /* cli_eval_score.c: --score-only */
int cli_world(int argc, char **argv);     /* cli_world.c: the synthetic shapes world */

#endif
