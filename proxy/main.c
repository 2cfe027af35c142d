/*
 * pgsift's entry point: `pgsift [flags]` runs the proxy; `pgsift suggest ...` and
 * `pgsift indexes ...` are the index advisor's commands, `pgsift top ...` the fleet's statements.
 */
#include <stdio.h>
#include <string.h>

#include "config/config.h"
#include "config/log.h"
#include "proxy/proxy.h"
#include "stats/advisor/cli.h"
#include "stats/top.h"

int main(int argc, char **argv)
{
	ConfigArgs args;
	char err[2048];
	if (argc > 1 && (strcmp(argv[1], "suggest") == 0 || strcmp(argv[1], "indexes") == 0))
		return advisor_main(argc - 1, argv + 1);
	if (argc > 1 && strcmp(argv[1], "top") == 0)
		return top_main(argc - 1, argv + 1);
	if (!config_parse_args(argc, argv, &args, err, sizeof(err))) {
		fprintf(stderr, "pgsift: %s\n%s", err, config_usage());
		return 2;
	}
	if (args.help) {
		fputs(config_usage(), stdout);
		fputs(top_usage_brief, stdout); /* config_usage ends with the other commands */
		return 0;
	}
	if (args.version) {
		puts("pgsift 0.1.0");
		return 0;
	}
	Config *cfg = config_load(&args, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "pgsift: %s\n", err);
		return 2;
	}
	if (log_init(cfg->log_level, cfg->logfile) != 0)
		fprintf(stderr, "pgsift: could not open log file %s\n", cfg->logfile);
	/* config_load checked the facility's name */
	(void)log_set_syslog(cfg->syslog, cfg->syslog_ident, cfg->syslog_facility);
	return proxy_run(cfg, args.takeover);
}
