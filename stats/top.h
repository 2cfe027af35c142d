/*
 * top: `pgsift top`, the fleet's statements as SHOW QUERIES shows one process's (README.md,
 * "Fleet statistics").
 */
#ifndef PGSIFT_STATS_TOP_H
#define PGSIFT_STATS_TOP_H

/* The one line `pgsift --help` gives the command. */
extern const char top_usage_brief[];

/* argv[0] is "top". Prints to stdout, errors to stderr; returns the exit code (0; 1 when the
 * store cannot be read; 2 for a bad command line). */
int top_main(int argc, char **argv);

#endif
