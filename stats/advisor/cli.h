/*
 * cli.h: the index advisor's command-line side: `pgsift suggest` and `pgsift indexes`
 * (README.md, "Index suggestions").
 */
#ifndef PGSIFT_ADVISOR_CLI_H
#define PGSIFT_ADVISOR_CLI_H

/* argv[0] is "suggest" or "indexes". Prints to stdout, errors to stderr; returns the exit code. */
int advisor_main(int argc, char **argv);

#endif
