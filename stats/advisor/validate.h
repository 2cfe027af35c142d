/*
 * validate.h: the advisor's suggestions judged by the planner, through HypoPG's hypothetical
 * indexes on the database the catalog reads. Blocks on libpq: call it from the command line or
 * a worker thread, never from the event loop.
 */
#ifndef PGSIFT_ADVISOR_VALIDATE_H
#define PGSIFT_ADVISOR_VALIDATE_H

#include <stdbool.h>

#include "stats/advisor/advisor.h"
#include "stats/advisor/catalog.h"

/*
 * Costs each suggestion with EXPLAIN on the statements it serves, before and after a HypoPG
 * hypothetical index, and drops those that save under the advisor's min_saving_pct
 * (write_heavy_saving_pct on write-heavy tables: see AdvisorOptions); the saving asked is noted
 * in the evidence. A suggestion that cannot be costed (an index method HypoPG does not know,
 * such as GIN; statements the server cannot EXPLAIN) is kept and marked with why.
 * only_planner: only the suggestions that the syntax alone cannot confirm. cat's database must
 * have the hypopg extension.
 */
void advisor_validate(Advisor *adv, Catalog *cat, bool only_planner);

/* Drops the suggestions that only the planner could confirm and that were not validated. */
void advisor_drop_unjudged(Advisor *adv);

#endif
