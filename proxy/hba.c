/*
 * hba: reads an auth_hba_file into an array of rules and matches clients against it (see hba.h
 * for the syntax accepted). A line is first cut into fields of tokens, the way PostgreSQL's
 * tokenizer does it (quotes, commas, comments), then each field is checked and turned into a
 * rule; @file names are expanded while the line is read, so matching never touches the file
 * system. Every string in the rules is owned by the rules and freed by hba_free().
 */
#include "proxy/hba.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "util/grow.h"

#define HBA_INCLUDE_DEPTH 10

typedef enum {
	HBA_LINE_LOCAL,
	HBA_LINE_HOST,
	HBA_LINE_HOSTSSL,
	HBA_LINE_HOSTNOSSL,
	HBA_LINE_HOSTGSSENC,
	HBA_LINE_HOSTNOGSSENC,
} HbaLineType;

typedef enum {
	HBA_NAME_LITERAL,
	HBA_NAME_ALL,
	HBA_NAME_SAMEUSER,
	HBA_NAME_REPLICATION,
	HBA_NAME_NEVER, /* samerole, samegroup, +group: accepted, never match */
} HbaNameKind;

typedef struct HbaName {
	HbaNameKind kind;
	char *name; /* owned; the literal name, NULL for keywords */
} HbaName;

typedef struct HbaNames {
	HbaName *items; /* owned */
	size_t n, cap;
} HbaNames;

typedef struct HbaRule {
	int line;
	HbaLineType type;
	HbaNames databases;
	HbaNames users;
	bool addr_all; /* address "all" (or a local line, which has no address) */
	int family;    /* AF_INET or AF_INET6 when !addr_all */
	uint8_t addr[16];
	uint8_t mask[16];
	HbaMethod method;
} HbaRule;

struct HbaRules {
	HbaRule *items; /* owned */
	size_t n, cap;
};

/* One token of a line: the text without its quotes, and whether any part of it was quoted. */
typedef struct HbaToken {
	char *s; /* owned */
	bool quoted;
} HbaToken;

/* One whitespace-separated field: a comma-separated list of tokens. */
typedef struct HbaField {
	HbaToken *toks; /* owned */
	size_t n, cap;
} HbaField;

typedef struct HbaLine {
	HbaField *fields; /* owned */
	size_t n, cap;
} HbaLine;

/* The caller's error buffer (buf may be NULL or len 0: errors are then not written). */
typedef struct HbaErr {
	char *buf; /* the caller's */
	size_t len;
} HbaErr;

static void hba_error(HbaErr *e, const char *path, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static bool read_line(FILE *f, char **buf, size_t *cap, int *lineno, int *first_line, bool *eof);
static bool tokenize(const char *text, HbaLine *out, const char **why);
static void line_clear(HbaLine *l);
static char *field_text(const HbaField *f);
static bool parse_rule(const HbaLine *l, const char *path, int lineno, HbaRule *r, HbaErr *e);
static bool parse_names(const HbaField *f, bool is_db, const char *path, int lineno, int depth,
			HbaNames *out, HbaErr *e);
static bool add_name(const HbaToken *t, bool is_db, const char *path, int lineno, int depth,
		     HbaNames *out, HbaErr *e);
static bool include_names(const char *name, bool is_db, const char *path, int lineno, int depth,
			  HbaNames *out, HbaErr *e);
static bool parse_address(const HbaLine *l, size_t *i, const char *path, int lineno, HbaRule *r,
			  HbaErr *e);
static int parse_ip(const char *s, uint8_t out[16]);
static bool parse_method(const HbaField *f, const char *path, int lineno, HbaRule *r, HbaErr *e);
static void names_free(HbaNames *n);
static bool names_match(const HbaNames *n, const char *value, const char *user, bool is_db);
static bool rule_matches(const HbaRule *r, const HbaClient *c);
static bool addr_matches(const HbaRule *r, const struct sockaddr *sa);

static const char *const METHOD_NAMES[] = {
	[HBA_TRUST] = "trust",	       [HBA_REJECT] = "reject",	    [HBA_MD5] = "md5",
	[HBA_SCRAM] = "scram-sha-256", [HBA_PASSWORD] = "password", [HBA_CERT] = "cert",
	[HBA_PEER] = "peer",
};

HbaRules *hba_load(const char *path, char *err, size_t errlen)
{
	HbaErr e = {err, errlen};
	HbaRules *rules = NULL;
	HbaLine l = {0};
	char *buf = NULL;
	size_t cap = 0;
	int lineno = 0, first = 0;
	bool eof = false;
	FILE *f;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	f = fopen(path, "r");
	if (f == NULL) {
		hba_error(&e, path, 0, "cannot open: %s", strerror(errno));
		return NULL;
	}
	rules = calloc(1, sizeof(*rules));
	if (rules == NULL)
		goto nomem;
	for (;;) {
		const char *why = NULL;

		if (!read_line(f, &buf, &cap, &lineno, &first, &eof)) {
			if (ferror(f))
				hba_error(&e, path, lineno, "read failed: %s", strerror(errno));
			else
				goto nomem;
			goto fail;
		}
		if (eof)
			break;
		if (!tokenize(buf, &l, &why)) {
			if (why == NULL)
				goto nomem;
			hba_error(&e, path, first, "%s", why);
			goto fail;
		}
		if (l.n == 0)
			continue;
		if (!grow_array(&rules->items, &rules->cap, rules->n + 1, sizeof(*rules->items)))
			goto nomem;
		if (!parse_rule(&l, path, first, &rules->items[rules->n], &e))
			goto fail;
		rules->n++;
		line_clear(&l);
	}
	line_clear(&l);
	free(buf);
	fclose(f);
	return rules;

nomem:
	hba_error(&e, path, 0, "out of memory");
fail:
	line_clear(&l);
	free(buf);
	fclose(f);
	hba_free(rules);
	return NULL;
}

void hba_free(HbaRules *rules)
{
	if (rules == NULL)
		return;
	for (size_t i = 0; i < rules->n; i++) {
		names_free(&rules->items[i].databases);
		names_free(&rules->items[i].users);
	}
	free(rules->items);
	free(rules);
}

size_t hba_rule_count(const HbaRules *rules)
{
	return rules != NULL ? rules->n : 0;
}

HbaMethod hba_match(const HbaRules *rules, const HbaClient *c, int *line)
{
	if (line != NULL)
		*line = 0;
	if (rules == NULL)
		return HBA_REJECT;
	for (size_t i = 0; i < rules->n; i++) {
		const HbaRule *r = &rules->items[i];

		if (!rule_matches(r, c))
			continue;
		if (line != NULL)
			*line = r->line;
		return r->method;
	}
	return HBA_REJECT;
}

const char *hba_method_str(HbaMethod m)
{
	if ((unsigned)m < sizeof(METHOD_NAMES) / sizeof(METHOD_NAMES[0]) && METHOD_NAMES[m] != NULL)
		return METHOD_NAMES[m];
	return "unknown";
}

/* Writes "path:line: message" (or "path: message" for line 0) into the caller's buffer. */
static void hba_error(HbaErr *e, const char *path, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (e->buf == NULL || e->len == 0)
		return;
	if (line > 0)
		n = snprintf(e->buf, e->len, "%s:%d: ", path, line);
	else
		n = snprintf(e->buf, e->len, "%s: ", path);
	if (n < 0 || (size_t)n >= e->len)
		return;
	va_start(ap, fmt);
	vsnprintf(e->buf + n, e->len - (size_t)n, fmt, ap);
	va_end(ap);
}

/*
 * Reads one logical line into *buf: physical lines ending in a backslash are joined with the
 * next one (the backslash dropped), as PostgreSQL does. *first_line gets the number of its first
 * physical line. Sets *eof and returns true at the end of the file; false on a read error or when
 * memory ran out (ferror() tells which).
 */
static bool read_line(FILE *f, char **buf, size_t *cap, int *lineno, int *first_line, bool *eof)
{
	char *part = NULL;
	size_t part_cap = 0, len = 0;
	bool have = false;

	*eof = false;
	for (;;) {
		ssize_t n = getline(&part, &part_cap, f);

		if (n < 0) {
			free(part);
			if (ferror(f))
				return false;
			/* A backslash on the last line continues into nothing. */
			*eof = !have;
			return true;
		}
		(*lineno)++;
		if (!have)
			*first_line = *lineno;
		have = true;
		while (n > 0 && (part[n - 1] == '\n' || part[n - 1] == '\r'))
			n--;
		bool more = n > 0 && part[n - 1] == '\\';
		if (more)
			n--;
		if (!grow_array(buf, cap, len + (size_t)n + 1, 1)) {
			free(part);
			return false;
		}
		memcpy(*buf + len, part, (size_t)n);
		len += (size_t)n;
		(*buf)[len] = '\0';
		if (!more) {
			free(part);
			return true;
		}
	}
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

/*
 * Cuts text into fields as PostgreSQL's tokenizer does: blanks separate fields, a comma outside
 * quotes separates the tokens of one field (and the list goes on after blanks), '#' outside
 * quotes starts a comment, and double quotes may surround any part of a token ("a""b" is ab).
 * out must be empty. Returns false with *why set for a malformed line, or with *why NULL when
 * memory ran out; out is then cleared.
 */
static bool tokenize(const char *text, HbaLine *out, const char **why)
{
	const char *p = text;
	char *tok = NULL;
	size_t tok_cap = 0;

	*why = NULL;
	for (;;) {
		HbaField *f;

		while (is_blank(*p))
			p++;
		if (*p == '\0' || *p == '#')
			break;
		if (!grow_array(&out->fields, &out->cap, out->n + 1, sizeof(*out->fields)))
			goto fail;
		f = &out->fields[out->n++];
		memset(f, 0, sizeof(*f));
		for (;;) {
			size_t len = 0;
			bool quoted = false, in_quote = false;

			while (*p != '\0') {
				char c = *p;

				if (!in_quote && (is_blank(c) || c == ',' || c == '#'))
					break;
				p++;
				if (c == '"') {
					in_quote = !in_quote;
					quoted = true;
					continue;
				}
				if (!grow_array(&tok, &tok_cap, len + 2, 1))
					goto fail;
				tok[len++] = c;
			}
			if (in_quote) {
				*why = "unterminated quoted string";
				goto fail;
			}
			if (len == 0 && !quoted) {
				*why = "empty name in a comma-separated list";
				goto fail;
			}
			if (!grow_array(&f->toks, &f->cap, f->n + 1, sizeof(*f->toks)))
				goto fail;
			f->toks[f->n].s = strndup(tok != NULL ? tok : "", len);
			if (f->toks[f->n].s == NULL)
				goto fail;
			f->toks[f->n++].quoted = quoted;
			if (*p != ',')
				break;
			p++;
			while (is_blank(*p))
				p++;
			if (*p == '\0' || *p == '#') {
				*why = "comma-separated list ends with a comma";
				goto fail;
			}
		}
	}
	free(tok);
	return true;
fail:
	free(tok);
	line_clear(out);
	return false;
}

static void line_clear(HbaLine *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (size_t j = 0; j < l->fields[i].n; j++)
			free(l->fields[i].toks[j].s);
		free(l->fields[i].toks);
	}
	free(l->fields);
	memset(l, 0, sizeof(*l));
}

/* The field's tokens joined by commas, for error messages; the caller frees it (NULL = no
 * memory). */
static char *field_text(const HbaField *f)
{
	size_t len = 1;
	char *s;

	for (size_t i = 0; i < f->n; i++)
		len += strlen(f->toks[i].s) + 1;
	s = malloc(len);
	if (s == NULL)
		return NULL;
	s[0] = '\0';
	for (size_t i = 0; i < f->n; i++) {
		if (i > 0)
			strcat(s, ",");
		strcat(s, f->toks[i].s);
	}
	return s;
}

/* Reports that a field holding one value has a list; false always, for the caller to return. */
static bool single_value_error(const HbaField *f, const char *what, const char *path, int lineno,
			       HbaErr *e)
{
	char *text = field_text(f);

	hba_error(e, path, lineno, "multiple values for the %s: \"%s\"", what,
		  text != NULL ? text : "?");
	free(text);
	return false;
}

static bool is_keyword(const HbaToken *t, const char *kw)
{
	return !t->quoted && strcmp(t->s, kw) == 0;
}

/*
 * Turns one tokenized line into *r (zeroed first). False with the error written; whatever *r
 * holds then has been freed.
 */
static bool parse_rule(const HbaLine *l, const char *path, int lineno, HbaRule *r, HbaErr *e)
{
	static const struct {
		const char *name;
		HbaLineType type;
	} types[] = {
		{"local", HBA_LINE_LOCAL},	     {"host", HBA_LINE_HOST},
		{"hostssl", HBA_LINE_HOSTSSL},	     {"hostnossl", HBA_LINE_HOSTNOSSL},
		{"hostgssenc", HBA_LINE_HOSTGSSENC}, {"hostnogssenc", HBA_LINE_HOSTNOGSSENC},
	};
	const HbaField *type = &l->fields[0];
	size_t i;
	bool found = false;

	memset(r, 0, sizeof(*r));
	r->line = lineno;
	if (type->n != 1)
		return single_value_error(type, "connection type", path, lineno, e);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		if (strcmp(type->toks[0].s, types[i].name) == 0) {
			r->type = types[i].type;
			found = true;
			break;
		}
	}
	if (!found) {
		const char *s = type->toks[0].s;

		if (strcmp(s, "include") == 0 || strcmp(s, "include_if_exists") == 0 ||
		    strcmp(s, "include_dir") == 0)
			hba_error(e, path, lineno, "include directives are not supported: \"%s\"",
				  s);
		else
			hba_error(e, path, lineno, "invalid connection type \"%s\"", s);
		return false;
	}
	if (l->n < 2) {
		hba_error(e, path, lineno, "missing database field");
		return false;
	}
	if (!parse_names(&l->fields[1], true, path, lineno, 0, &r->databases, e))
		goto fail;
	if (l->n < 3) {
		hba_error(e, path, lineno, "missing user field");
		goto fail;
	}
	if (!parse_names(&l->fields[2], false, path, lineno, 0, &r->users, e))
		goto fail;
	i = 3;
	if (r->type == HBA_LINE_LOCAL) {
		r->addr_all = true;
	} else if (!parse_address(l, &i, path, lineno, r, e)) {
		goto fail;
	}
	if (i >= l->n) {
		hba_error(e, path, lineno, "missing authentication method");
		goto fail;
	}
	if (!parse_method(&l->fields[i], path, lineno, r, e))
		goto fail;
	/* Options (clientcert=..., map=...) mean nothing to the proxy, but must be well formed. */
	for (i++; i < l->n; i++) {
		for (size_t j = 0; j < l->fields[i].n; j++) {
			const char *opt = l->fields[i].toks[j].s;
			const char *eq = strchr(opt, '=');

			if (eq == NULL || eq == opt) {
				hba_error(e, path, lineno,
					  "authentication option not in name=value format: \"%s\"",
					  opt);
				goto fail;
			}
		}
	}
	return true;
fail:
	names_free(&r->databases);
	names_free(&r->users);
	return false;
}

static bool parse_names(const HbaField *f, bool is_db, const char *path, int lineno, int depth,
			HbaNames *out, HbaErr *e)
{
	for (size_t i = 0; i < f->n; i++) {
		if (!add_name(&f->toks[i], is_db, path, lineno, depth, out, e))
			return false;
	}
	return true;
}

/* Adds one database or user token to out: a keyword, a name, or the names of an @file. */
static bool add_name(const HbaToken *t, bool is_db, const char *path, int lineno, int depth,
		     HbaNames *out, HbaErr *e)
{
	HbaName n = {HBA_NAME_LITERAL, NULL};

	if (!t->quoted && t->s[0] == '@')
		return include_names(t->s, is_db, path, lineno, depth, out, e);
	if (!t->quoted && t->s[0] == '/') {
		hba_error(
			e, path, lineno,
			"regular expressions are not supported: \"%s\" (quote it to mean the name)",
			t->s);
		return false;
	}
	if (is_keyword(t, "all"))
		n.kind = HBA_NAME_ALL;
	else if (is_db && is_keyword(t, "sameuser"))
		n.kind = HBA_NAME_SAMEUSER;
	else if (is_db && is_keyword(t, "replication"))
		n.kind = HBA_NAME_REPLICATION;
	else if (is_db && (is_keyword(t, "samerole") || is_keyword(t, "samegroup")))
		n.kind = HBA_NAME_NEVER;
	else if (!is_db && !t->quoted && t->s[0] == '+')
		n.kind = HBA_NAME_NEVER;
	if (n.kind == HBA_NAME_LITERAL) {
		n.name = strdup(t->s);
		if (n.name == NULL)
			goto nomem;
	}
	if (!grow_array(&out->items, &out->cap, out->n + 1, sizeof(*out->items))) {
		free(n.name);
		goto nomem;
	}
	out->items[out->n++] = n;
	return true;
nomem:
	hba_error(e, path, lineno, "out of memory");
	return false;
}

/*
 * Expands "@file" (name as written, with its '@') into out: the file's tokens, whitespace or
 * comma separated, with comments, each taken as if written in place (keywords and nested @files
 * included). A relative file name is taken from the directory of path, the including file.
 */
static bool include_names(const char *name, bool is_db, const char *path, int lineno, int depth,
			  HbaNames *out, HbaErr *e)
{
	const char *file = name + 1;
	const char *slash = strrchr(path, '/');
	char *full = NULL, *buf = NULL;
	size_t cap = 0;
	int inc_line = 0, inc_first = 0;
	bool eof = false, ok = false;
	HbaLine l = {0};
	FILE *f = NULL;

	if (file[0] == '\0') {
		hba_error(e, path, lineno, "missing file name after \"@\"");
		return false;
	}
	if (depth >= HBA_INCLUDE_DEPTH) {
		hba_error(e, path, lineno, "@file includes nested more than %d deep at \"%s\"",
			  HBA_INCLUDE_DEPTH, name);
		return false;
	}
	if (file[0] == '/' || slash == NULL) {
		full = strdup(file);
	} else {
		size_t dir_len = (size_t)(slash - path) + 1;

		full = malloc(dir_len + strlen(file) + 1);
		if (full != NULL) {
			memcpy(full, path, dir_len);
			strcpy(full + dir_len, file);
		}
	}
	if (full == NULL)
		goto nomem;
	f = fopen(full, "r");
	if (f == NULL) {
		hba_error(e, path, lineno, "cannot open \"%s\" (%s): %s", name, full,
			  strerror(errno));
		goto out;
	}
	for (;;) {
		const char *why = NULL;

		if (!read_line(f, &buf, &cap, &inc_line, &inc_first, &eof)) {
			if (!ferror(f))
				goto nomem;
			hba_error(e, full, inc_line, "read failed: %s", strerror(errno));
			goto out;
		}
		if (eof)
			break;
		if (!tokenize(buf, &l, &why)) {
			if (why == NULL)
				goto nomem;
			hba_error(e, full, inc_first, "%s", why);
			goto out;
		}
		for (size_t i = 0; i < l.n; i++) {
			if (!parse_names(&l.fields[i], is_db, full, inc_first, depth + 1, out, e))
				goto out;
		}
		line_clear(&l);
	}
	ok = true;
	goto out;
nomem:
	hba_error(e, path, lineno, "out of memory");
out:
	line_clear(&l);
	free(buf);
	free(full);
	if (f != NULL)
		fclose(f);
	return ok;
}

/*
 * Reads the address field at l->fields[*i] (and the netmask field after it when the address
 * has no /len) into r, and moves *i past them.
 */
static bool parse_address(const HbaLine *l, size_t *i, const char *path, int lineno, HbaRule *r,
			  HbaErr *e)
{
	const HbaField *f;
	const HbaToken *t;
	const char *slash;
	uint8_t mask[16];
	int family, bits;

	if (*i >= l->n) {
		hba_error(e, path, lineno, "missing address field");
		return false;
	}
	f = &l->fields[*i];
	if (f->n != 1)
		return single_value_error(f, "address", path, lineno, e);
	t = &f->toks[0];
	(*i)++;
	if (is_keyword(t, "all")) {
		r->addr_all = true;
		return true;
	}
	if (is_keyword(t, "samehost") || is_keyword(t, "samenet")) {
		hba_error(e, path, lineno, "\"%s\" is not supported: write the address range",
			  t->s);
		return false;
	}
	slash = strchr(t->s, '/');
	if (slash != NULL) {
		char *addr = strndup(t->s, (size_t)(slash - t->s));
		const char *p = slash + 1;

		if (addr == NULL) {
			hba_error(e, path, lineno, "out of memory");
			return false;
		}
		family = parse_ip(addr, r->addr);
		free(addr);
		if (family == 0) {
			hba_error(e, path, lineno, "invalid IP address \"%s\"", t->s);
			return false;
		}
		bits = 0;
		if (*p == '\0' || strlen(p) > 3)
			bits = -1;
		for (; bits >= 0 && *p != '\0'; p++) {
			if (*p < '0' || *p > '9')
				bits = -1;
			else
				bits = bits * 10 + (*p - '0');
		}
		if (bits < 0 || bits > (family == AF_INET ? 32 : 128)) {
			hba_error(e, path, lineno, "invalid IP mask \"%s\"", t->s);
			return false;
		}
		memset(r->mask, 0, sizeof(r->mask));
		for (int b = 0; b < bits; b++)
			r->mask[b / 8] |= (uint8_t)(0x80 >> (b % 8));
		r->family = family;
		return true;
	}
	family = parse_ip(t->s, r->addr);
	if (family == 0) {
		hba_error(e, path, lineno,
			  "host names are not supported: \"%s\" (write an IP address range)", t->s);
		return false;
	}
	/* Like PostgreSQL, an address without /len takes its mask from the next field. */
	if (*i >= l->n) {
		hba_error(
			e, path, lineno,
			"missing netmask: address \"%s\" has no /len, so a netmask must follow it",
			t->s);
		return false;
	}
	f = &l->fields[*i];
	if (f->n != 1)
		return single_value_error(f, "netmask", path, lineno, e);
	int mask_family = parse_ip(f->toks[0].s, mask);
	if (mask_family == 0) {
		hba_error(e, path, lineno,
			  "invalid IP mask \"%s\": address \"%s\" has no /len, so a netmask must "
			  "follow it",
			  f->toks[0].s, t->s);
		return false;
	}
	if (mask_family != family) {
		hba_error(e, path, lineno,
			  "IP address \"%s\" and mask \"%s\" are not of one family", t->s,
			  f->toks[0].s);
		return false;
	}
	(*i)++;
	memcpy(r->mask, mask, sizeof(mask));
	r->family = family;
	return true;
}

/* Parses a numeric IPv4 or IPv6 address into out (4 or 16 bytes used); returns its family, or 0
 * when s is not a numeric address. */
static int parse_ip(const char *s, uint8_t out[16])
{
	memset(out, 0, 16);
	if (inet_pton(AF_INET, s, out) == 1)
		return AF_INET;
	if (inet_pton(AF_INET6, s, out) == 1)
		return AF_INET6;
	return 0;
}

static bool parse_method(const HbaField *f, const char *path, int lineno, HbaRule *r, HbaErr *e)
{
	/* PostgreSQL's other methods: named as unsupported rather than unknown. */
	static const char *const unsupported[] = {"ident", "gss",  "sspi",   "pam",
						  "bsd",   "ldap", "radius", "oauth"};
	const char *s;

	if (f->n != 1)
		return single_value_error(f, "authentication method", path, lineno, e);
	s = f->toks[0].s;
	for (size_t m = 0; m < sizeof(METHOD_NAMES) / sizeof(METHOD_NAMES[0]); m++) {
		if (strcmp(s, METHOD_NAMES[m]) != 0)
			continue;
		if (m == HBA_PEER && r->type != HBA_LINE_LOCAL) {
			hba_error(e, path, lineno,
				  "peer authentication is only supported on local lines");
			return false;
		}
		r->method = (HbaMethod)m;
		return true;
	}
	for (size_t k = 0; k < sizeof(unsupported) / sizeof(unsupported[0]); k++) {
		if (strcmp(s, unsupported[k]) == 0) {
			hba_error(e, path, lineno, "unsupported authentication method \"%s\"", s);
			return false;
		}
	}
	hba_error(e, path, lineno, "invalid authentication method \"%s\"", s);
	return false;
}

static void names_free(HbaNames *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->items[i].name);
	free(n->items);
	memset(n, 0, sizeof(*n));
}

/* True when value (a database when is_db, else a user name) is in the list n. */
static bool names_match(const HbaNames *n, const char *value, const char *user, bool is_db)
{
	for (size_t i = 0; i < n->n; i++) {
		const HbaName *name = &n->items[i];

		switch (name->kind) {
		case HBA_NAME_ALL:
			return true;
		case HBA_NAME_SAMEUSER:
			if (is_db && strcmp(value, user) == 0)
				return true;
			break;
		case HBA_NAME_LITERAL:
			if (strcmp(value, name->name) == 0)
				return true;
			break;
		case HBA_NAME_REPLICATION: /* the proxy takes no replication connections */
		case HBA_NAME_NEVER:
			break;
		}
	}
	return false;
}

static bool rule_matches(const HbaRule *r, const HbaClient *c)
{
	switch (r->type) {
	case HBA_LINE_LOCAL:
		if (!c->is_unix)
			return false;
		break;
	case HBA_LINE_HOST:
	case HBA_LINE_HOSTNOGSSENC: /* pgsift has no GSSAPI encryption: every TCP client */
		if (c->is_unix)
			return false;
		break;
	case HBA_LINE_HOSTSSL:
		if (c->is_unix || !c->tls)
			return false;
		break;
	case HBA_LINE_HOSTNOSSL:
		if (c->is_unix || c->tls)
			return false;
		break;
	case HBA_LINE_HOSTGSSENC:
		return false;
	}
	if (c->database == NULL || c->user == NULL)
		return false;
	if (!names_match(&r->databases, c->database, c->user, true))
		return false;
	if (!names_match(&r->users, c->user, c->user, false))
		return false;
	return r->type == HBA_LINE_LOCAL || r->addr_all || addr_matches(r, c->addr);
}

/* True when the client address sa is in r's range; an IPv4-mapped IPv6 address also counts as
 * its IPv4 address. */
static bool addr_matches(const HbaRule *r, const struct sockaddr *sa)
{
	const uint8_t *client = NULL;
	size_t len;

	if (sa == NULL)
		return false;
	if (sa->sa_family == AF_INET) {
		if (r->family != AF_INET)
			return false;
		client = (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr;
	} else if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		if (r->family == AF_INET6)
			client = (const uint8_t *)a6;
		else if (IN6_IS_ADDR_V4MAPPED(a6))
			client = (const uint8_t *)a6 + 12;
		else
			return false;
	} else {
		return false;
	}
	len = r->family == AF_INET ? 4 : 16;
	for (size_t i = 0; i < len; i++) {
		if (((client[i] ^ r->addr[i]) & r->mask[i]) != 0)
			return false;
	}
	return true;
}
