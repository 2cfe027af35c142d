/*
 * pgspell: PostgreSQL's spelling of reported parameter values. See pgspell.h.
 *
 * The tables follow PostgreSQL 15's own (encnames.c for encodings, check_datestyle for
 * DateStyle): an encoding name is matched ignoring case and everything but letters and digits,
 * and DateStyle keeps whichever half (output style or field order) the value leaves out.
 */
#include "proxy/pgspell.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static bool spell_encoding(const char *value, char *out, size_t outlen);
static bool spell_datestyle(const char *value, const char *current, char *out, size_t outlen);
static bool spell_timezone(const char *value, char *out, size_t outlen);

bool pgspell_value(const char *name, const char *value, const char *current, char *out,
		   size_t outlen)
{
	if (strcasecmp(name, "client_encoding") == 0)
		return spell_encoding(value, out, outlen);
	if (strcasecmp(name, "datestyle") == 0)
		return spell_datestyle(value, current, out, outlen);
	if (strcasecmp(name, "timezone") == 0)
		return spell_timezone(value, out, outlen);
	return false;
}

/* Where PostgreSQL (Debian's, built --with-system-tzdata) finds its time zones. */
#define TZ_DIR "/usr/share/zoneinfo"

/* The entry of dir whose name equals name ignoring case, copied into out. */
static bool find_ci(const char *dir, const char *name, size_t len, char *out, size_t outlen)
{
	DIR *d = opendir(dir);
	if (!d)
		return false;
	bool found = false;
	struct dirent *e;
	while (!found && (e = readdir(d)) != NULL) {
		if (strlen(e->d_name) == len && strncasecmp(e->d_name, name, len) == 0 &&
		    len < outlen) {
			memcpy(out, e->d_name, len);
			out[len] = '\0';
			found = true;
		}
	}
	closedir(d);
	return found;
}

/*
 * A time zone name as PostgreSQL reports it: matched without regard to case against the time
 * zone files (utc -> UTC, europe/paris -> Europe/Paris). A few directory reads, once per
 * distinct value (the last answers are kept): only clients that give TimeZone at start-up pay.
 * Offsets and POSIX zone specifications are left as they are.
 */
static bool spell_timezone(const char *value, char *out, size_t outlen)
{
	static struct {
		char given[64];
		char spelled[64];
	} cache[8];
	static unsigned next;
	size_t n = strlen(value);
	if (n == 0 || n >= sizeof(cache[0].given))
		return false;
	for (const char *p = value; *p; p++)
		if (!isalnum((unsigned char)*p) && *p != '/' && *p != '_' && *p != '-' && *p != '+')
			return false;
	if (value[0] == '/' || strstr(value, ".."))
		return false;
	for (unsigned i = 0; i < sizeof(cache) / sizeof(cache[0]); i++) {
		if (strcmp(cache[i].given, value) == 0) {
			snprintf(out, outlen, "%s", cache[i].spelled);
			return true;
		}
	}
	char path[256] = TZ_DIR, spelled[64] = "";
	const char *part = value;
	while (*part) {
		const char *slash = strchr(part, '/');
		size_t len = slash ? (size_t)(slash - part) : strlen(part);
		char entry[64];
		if (len == 0 || !find_ci(path, part, len, entry, sizeof(entry)))
			return false;
		size_t pl = strlen(path), sl = strlen(spelled);
		if (pl + 1 + strlen(entry) >= sizeof(path) ||
		    sl + 1 + strlen(entry) >= sizeof(spelled))
			return false;
		snprintf(path + pl, sizeof(path) - pl, "/%s", entry);
		snprintf(spelled + sl, sizeof(spelled) - sl, "%s%s", sl ? "/" : "", entry);
		part = slash ? slash + 1 : part + len;
	}
	unsigned k = next++ % (sizeof(cache) / sizeof(cache[0]));
	snprintf(cache[k].given, sizeof(cache[k].given), "%s", value);
	snprintf(cache[k].spelled, sizeof(cache[k].spelled), "%s", spelled);
	snprintf(out, outlen, "%s", spelled);
	return true;
}

/* Every name PostgreSQL accepts for an encoding (letters and digits, lower case), and the
 * name it reports. */
static const struct {
	const char *alias;
	const char *name;
} encodings[] = {
	{"abc", "WIN1258"},
	{"alt", "WIN866"},
	{"big5", "BIG5"},
	{"euccn", "EUC_CN"},
	{"eucjis2004", "EUC_JIS_2004"},
	{"eucjp", "EUC_JP"},
	{"euckr", "EUC_KR"},
	{"euctw", "EUC_TW"},
	{"gb18030", "GB18030"},
	{"gbk", "GBK"},
	{"iso88591", "LATIN1"},
	{"iso885910", "LATIN6"},
	{"iso885913", "LATIN7"},
	{"iso885914", "LATIN8"},
	{"iso885915", "LATIN9"},
	{"iso885916", "LATIN10"},
	{"iso88592", "LATIN2"},
	{"iso88593", "LATIN3"},
	{"iso88594", "LATIN4"},
	{"iso88595", "ISO_8859_5"},
	{"iso88596", "ISO_8859_6"},
	{"iso88597", "ISO_8859_7"},
	{"iso88598", "ISO_8859_8"},
	{"iso88599", "LATIN5"},
	{"johab", "JOHAB"},
	{"koi8", "KOI8R"},
	{"koi8r", "KOI8R"},
	{"koi8u", "KOI8U"},
	{"latin1", "LATIN1"},
	{"latin10", "LATIN10"},
	{"latin2", "LATIN2"},
	{"latin3", "LATIN3"},
	{"latin4", "LATIN4"},
	{"latin5", "LATIN5"},
	{"latin6", "LATIN6"},
	{"latin7", "LATIN7"},
	{"latin8", "LATIN8"},
	{"latin9", "LATIN9"},
	{"mskanji", "SJIS"},
	{"muleinternal", "MULE_INTERNAL"},
	{"shiftjis", "SJIS"},
	{"shiftjis2004", "SHIFT_JIS_2004"},
	{"sjis", "SJIS"},
	{"sqlascii", "SQL_ASCII"},
	{"tcvn", "WIN1258"},
	{"tcvn5712", "WIN1258"},
	{"uhc", "UHC"},
	{"unicode", "UTF8"},
	{"utf8", "UTF8"},
	{"vscii", "WIN1258"},
	{"win", "WIN1251"},
	{"win1250", "WIN1250"},
	{"win1251", "WIN1251"},
	{"win1252", "WIN1252"},
	{"win1253", "WIN1253"},
	{"win1254", "WIN1254"},
	{"win1255", "WIN1255"},
	{"win1256", "WIN1256"},
	{"win1257", "WIN1257"},
	{"win1258", "WIN1258"},
	{"win866", "WIN866"},
	{"win874", "WIN874"},
	{"win932", "SJIS"},
	{"win936", "GBK"},
	{"win949", "UHC"},
	{"win950", "BIG5"},
	{"windows1250", "WIN1250"},
	{"windows1251", "WIN1251"},
	{"windows1252", "WIN1252"},
	{"windows1253", "WIN1253"},
	{"windows1254", "WIN1254"},
	{"windows1255", "WIN1255"},
	{"windows1256", "WIN1256"},
	{"windows1257", "WIN1257"},
	{"windows1258", "WIN1258"},
	{"windows866", "WIN866"},
	{"windows874", "WIN874"},
	{"windows932", "SJIS"},
	{"windows936", "GBK"},
	{"windows949", "UHC"},
	{"windows950", "BIG5"},
};

static bool spell_encoding(const char *value, char *out, size_t outlen)
{
	char clean[32];
	size_t n = 0;
	for (const char *p = value; *p; p++) {
		if (!isalnum((unsigned char)*p))
			continue;
		if (n + 1 >= sizeof(clean))
			return false;
		clean[n++] = (char)tolower((unsigned char)*p);
	}
	clean[n] = '\0';
	for (size_t i = 0; i < sizeof(encodings) / sizeof(encodings[0]); i++) {
		if (strcmp(encodings[i].alias, clean) == 0) {
			snprintf(out, outlen, "%s", encodings[i].name);
			return true;
		}
	}
	return false;
}

/* DateStyle's two halves as PostgreSQL prints them. */
static const char *const date_styles[] = {"ISO", "SQL", "Postgres", "German"};
static const char *const date_orders[] = {"DMY", "MDY", "YMD"};

/* Which style and order a DateStyle value names (-1: it leaves that half out). False when a
 * word is not one PostgreSQL accepts. */
static bool datestyle_read(const char *value, int *style, int *order)
{
	static const struct {
		const char *word;
		int style, order;
	} words[] = {
		{"iso", 0, -1}, {"sql", 1, -1},	    {"postgres", 2, -1},    {"german", 3, -1},
		{"dmy", -1, 0}, {"euro", -1, 0},    {"european", -1, 0},    {"mdy", -1, 1},
		{"us", -1, 1},	{"noneuro", -1, 1}, {"noneuropean", -1, 1}, {"ymd", -1, 2},
	};
	*style = *order = -1;
	bool german = false;
	const char *p = value;
	while (*p) {
		while (*p == ',' || isspace((unsigned char)*p))
			p++;
		if (!*p)
			break;
		const char *start = p;
		while (*p && *p != ',' && !isspace((unsigned char)*p))
			p++;
		size_t len = (size_t)(p - start);
		bool known = false;
		for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
			if (strlen(words[i].word) != len ||
			    strncasecmp(words[i].word, start, len) != 0)
				continue;
			known = true;
			if (words[i].style >= 0) {
				*style = words[i].style;
				german = words[i].style == 3;
			} else {
				*order = words[i].order;
			}
		}
		if (!known)
			return false; /* DEFAULT, a typo...: the server decides */
	}
	if (german && *order < 0)
		*order = 0; /* German implies DMY unless an order is given */
	return true;
}

static bool spell_datestyle(const char *value, const char *current, char *out, size_t outlen)
{
	int style, order, cur_style = 0, cur_order = 1; /* PostgreSQL's default: ISO, MDY */
	if (!datestyle_read(value, &style, &order) || (style < 0 && order < 0))
		return false;
	if (!current && (style < 0 || order < 0))
		return false; /* the other half is the server's */
	if (current) {
		int cs, co;
		if (datestyle_read(current, &cs, &co)) {
			if (cs >= 0)
				cur_style = cs;
			if (co >= 0)
				cur_order = co;
		}
	}
	snprintf(out, outlen, "%s, %s", date_styles[style >= 0 ? style : cur_style],
		 date_orders[order >= 0 ? order : cur_order]);
	return true;
}
