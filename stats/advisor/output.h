/*
 * output.h: prints the advisor's suggestions as a SQL migration (CREATE INDEX CONCURRENTLY
 * IF NOT EXISTS, each with a comment block of evidence), JSON, CSV or Markdown. Every format
 * carries the same fields. Dropped suggestions (validation) are listed only in JSON, as
 * "rejected", and in the SQL comments.
 */
#ifndef PGSIFT_ADVISOR_OUTPUT_H
#define PGSIFT_ADVISOR_OUTPUT_H

#include <stdio.h>

#include "stats/advisor/advisor.h"

typedef enum { ADV_FMT_SQL = 0, ADV_FMT_JSON, ADV_FMT_CSV, ADV_FMT_MARKDOWN } AdvFormat;

/* Parses "sql", "json", "csv", "markdown" (or "md"); false for anything else. */
bool advisor_format_parse(const char *s, AdvFormat *out) __attribute__((warn_unused_result));

/* header: a line describing the run ("window 7d, 12 fingerprints"), may be NULL. */
void advisor_output(FILE *out, const Advisor *adv, AdvFormat fmt, const char *header);

/* A suggestion's field by the name JSON gives it ("table", "sql", "calls", "total_ms",
 * "statements"...), as text the way CSV writes it (owned); NULL when it has no value. The one
 * table of fields in output.c serves every format and SHOW SUGGESTIONS. */
char *advisor_field_text(const Advisor *adv, const AdvSuggestion *s, const char *name);

/* JSON string escaping (quotes included). */
void advisor_json_str(FILE *out, const char *s);

/* The access path suggestion s gives its k-th statement ("equality (user_id), then sort
 * (created_at DESC)"); "" when unknown. */
const char *advisor_path(const AdvSuggestion *s, size_t k);

/* The write cost of a suggestion as a sentence: the table's write rate, the write statements
 * seen, and whether key columns are updated (no HOT updates for those). */
void advisor_writes_text(char *buf, size_t cap, const AdvSuggestion *s);

#endif
