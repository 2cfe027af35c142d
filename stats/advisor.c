/*
 * advisor: `pgsift suggest` / `pgsift indexes`. Being written (issue: index advisor); until it
 * lands the commands say so and exit with status 2.
 */
#include "stats/advisor.h"

#include <stdio.h>

int advisor_main(int argc, char **argv)
{
	(void)argc;
	fprintf(stderr, "pgsift %s: the index advisor is not built yet\n", argv[0]);
	return 2;
}
