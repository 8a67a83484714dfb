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

#endif
