#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static void sb_grow(struct sbuf *sb, size_t extra)
{
	size_t need = sb->len + extra + 1;

	if (need <= sb->cap)
		return;
	size_t cap = sb->cap ? sb->cap : 128;
	while (cap < need)
		cap *= 2;
	char *p = realloc(sb->p, cap);
	if (!p) {
		fputs("gmlab: out of memory\n", stderr);
		abort();
	}
	sb->p = p;
	sb->cap = cap;
}

void sb_putc(struct sbuf *sb, char c)
{
	sb_grow(sb, 1);
	sb->p[sb->len++] = c;
	sb->p[sb->len] = 0;
}

void sb_puts(struct sbuf *sb, const char *s)
{
	size_t n = strlen(s);

	sb_grow(sb, n);
	memcpy(sb->p + sb->len, s, n + 1);
	sb->len += n;
}

void sb_printf(struct sbuf *sb, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	sb_grow(sb, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(sb->p + sb->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	sb->len += (size_t)n;
}

/* Length of the valid UTF-8 sequence at s, or 0 if the byte there does not start one. */
static size_t utf8_seq_len(const unsigned char *s)
{
	size_t n, i;

	if (s[0] < 0x80)
		return 1;
	else if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		n = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		n = 4;
	else
		return 0;
	for (i = 1; i < n; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return n;
}

void sb_json_str(struct sbuf *sb, const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	sb_putc(sb, '"');
	while (*u) {
		size_t n;

		switch (*u) {
		case '"': sb_puts(sb, "\\\""); u++; continue;
		case '\\': sb_puts(sb, "\\\\"); u++; continue;
		case '\n': sb_puts(sb, "\\n"); u++; continue;
		case '\r': sb_puts(sb, "\\r"); u++; continue;
		case '\t': sb_puts(sb, "\\t"); u++; continue;
		}
		n = *u < 0x20 ? 0 : utf8_seq_len(u);
		if (n == 0) {
			sb_printf(sb, "\\u%04x", *u);
			u++;
			continue;
		}
		sb_grow(sb, n);
		memcpy(sb->p + sb->len, u, n);
		sb->len += n;
		sb->p[sb->len] = 0;
		u += n;
	}
	sb_putc(sb, '"');
}

void sb_json_u64s(struct sbuf *sb, const uint64_t *v, size_t n)
{
	size_t i;

	sb_putc(sb, '[');
	for (i = 0; i < n; i++)
		sb_printf(sb, "%s%llu", i ? "," : "", (unsigned long long)v[i]);
	sb_putc(sb, ']');
}

void sb_json_i64s(struct sbuf *sb, const int64_t *v, size_t n)
{
	size_t i;

	sb_putc(sb, '[');
	for (i = 0; i < n; i++)
		sb_printf(sb, "%s%lld", i ? "," : "", (long long)v[i]);
	sb_putc(sb, ']');
}

void sb_json_f64s(struct sbuf *sb, const double *v, size_t n, int decimals)
{
	size_t i;

	sb_putc(sb, '[');
	for (i = 0; i < n; i++) {
		if (i)
			sb_putc(sb, ',');
		if (v[i] != v[i] || v[i] - v[i] != 0)	/* NaN or infinite */
			sb_puts(sb, "null");
		else
			sb_printf(sb, "%.*f", decimals, v[i]);
	}
	sb_putc(sb, ']');
}

const char *sb_str(const struct sbuf *sb)
{
	return sb->p ? sb->p : "";
}

void sb_reset(struct sbuf *sb)
{
	sb->len = 0;
	if (sb->p)
		sb->p[0] = 0;
}

void sb_free(struct sbuf *sb)
{
	free(sb->p);
	*sb = (struct sbuf){ 0 };
}

/* Skips a JSON string starting at the opening quote; returns the char after the closing one. */
static const char *skip_string(const char *p)
{
	for (p++; *p && *p != '"'; p++)
		if (*p == '\\' && p[1])
			p++;
	return *p ? p + 1 : p;
}

int json_get_string(const char *obj, const char *key, char *out, size_t outlen)
{
	size_t klen = strlen(key);
	int depth = 0;
	const char *p;

	for (p = obj; *p; ) {
		if (*p == '{' || *p == '[') {
			depth++;
			p++;
		} else if (*p == '}' || *p == ']') {
			depth--;
			p++;
		} else if (*p == '"') {
			const char *start = p + 1, *end = skip_string(p);
			const char *q = end;

			while (*q == ' ')
				q++;
			/* a key at the top level of the object, followed by a string value */
			if (depth == 1 && *q == ':' && (size_t)(end - 1 - start) == klen &&
			    memcmp(start, key, klen) == 0) {
				size_t o = 0;

				q++;
				while (*q == ' ')
					q++;
				if (*q != '"')
					return -1;
				for (q++; *q && *q != '"'; q++) {
					char c = *q;

					if (c == '\\') {
						q++;
						switch (*q) {
						case 'n': c = '\n'; break;
						case 't': c = '\t'; break;
						case 'r': c = '\r'; break;
						case 'u': /* \u00XX only (what sb_json_str writes for bytes) */
							if (q[1] && q[2] && q[3] && q[4]) {
								c = (char)strtol((char[]){ q[3], q[4], 0 }, NULL, 16);
								q += 4;
							}
							break;
						case 0: return -1;
						default: c = *q;
						}
					}
					if (o + 1 >= outlen)
						return -1;
					out[o++] = c;
				}
				if (*q != '"')
					return -1;
				out[o] = 0;
				return 0;
			}
			p = end;
		} else {
			p++;
		}
	}
	return -1;
}
