/* Just enough JSON for one-line records: a growable string, escaped strings, and a flat-object
 * string-field reader (for the agent reading `--list` and RESULT lines). */
#ifndef GML_JSON_H
#define GML_JSON_H

#include <stddef.h>
#include <stdint.h>

struct sbuf {
	char *p;	/* always NUL-terminated once anything was appended */
	size_t len, cap;
};

void sb_putc(struct sbuf *sb, char c);
void sb_puts(struct sbuf *sb, const char *s);
void sb_printf(struct sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal with quotes. Control characters and bytes that are not
 * valid UTF-8 are written as \u00XX, so any C string yields valid JSON. */
void sb_json_str(struct sbuf *sb, const char *s);
/* JSON arrays of n integers, or of n numbers with `decimals` digits after the point (NaN and
 * infinities, which JSON lacks, as null). */
void sb_json_u64s(struct sbuf *sb, const uint64_t *v, size_t n);
void sb_json_i64s(struct sbuf *sb, const int64_t *v, size_t n);
void sb_json_f64s(struct sbuf *sb, const double *v, size_t n, int decimals);
const char *sb_str(const struct sbuf *sb);	/* "" when empty */
void sb_reset(struct sbuf *sb);
void sb_free(struct sbuf *sb);

/* Finds "key":"…" at the top level of a one-line JSON object and unescapes the value into out.
 * Returns 0 on success, -1 when the key is absent, not a string, or does not fit. */
int json_get_string(const char *obj, const char *key, char *out, size_t outlen);

#endif
