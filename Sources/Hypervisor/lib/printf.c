/* Minimal printf: %d %i %u %x %X %o %p %s %c %%, flags '-' '0', width, precision for %s,
 * length modifiers h hh l ll z. Formats through a sink so printf and snprintf share code.
 * Bytes of %s / %c arguments outside printable ASCII are escaped as \xNN (put_data). */
#include "printf.h"
#include "serial.h"
#include "lib.h"

struct sink {
	char *buf; /* NULL: serial */
	size_t cap, len;
};

static void put(struct sink *s, char c)
{
	if (!s->buf)
		serial_putc(c);
	else if (s->len + 1 < s->cap)
		s->buf[s->len] = c;
	s->len++;
}

/* %s and %c arguments are often guest data (the seed's services print guest buffers): a byte
 * outside printable ASCII is written as \xNN, so a guest can neither inject lines (a forged
 * "GMLAB-HV-FATAL:") nor terminal escapes into the hypervisor log, and the log stays text. */
static void put_data(struct sink *s, char c)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char u = (unsigned char)c;
	if (u >= 0x20 && u < 0x7f) {
		put(s, c);
		return;
	}
	put(s, '\\');
	put(s, 'x');
	put(s, hex[u >> 4]);
	put(s, hex[u & 15]);
}

static void put_padded(struct sink *s, const char *str, size_t n, int width, bool left, char pad)
{
	int fill = width > (int)n ? width - (int)n : 0;
	if (!left)
		while (fill-- > 0)
			put(s, pad);
	for (size_t i = 0; i < n; i++)
		put_data(s, str[i]);
	if (left)
		while (fill-- > 0)
			put(s, ' ');
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
	for (; *fmt; fmt++) {
		if (*fmt != '%') {
			put(s, *fmt);
			continue;
		}
		fmt++;
		bool left = false;
		char pad = ' ';
		for (;; fmt++) {
			if (*fmt == '-')
				left = true;
			else if (*fmt == '0')
				pad = '0';
			else
				break;
		}
		int width = 0, prec = -1;
		if (*fmt == '*') {
			width = va_arg(ap, int);
			fmt++;
		} else
			while (*fmt >= '0' && *fmt <= '9')
				width = width * 10 + (*fmt++ - '0');
		if (*fmt == '.') {
			fmt++;
			prec = 0;
			if (*fmt == '*') {
				prec = va_arg(ap, int);
				fmt++;
			} else
				while (*fmt >= '0' && *fmt <= '9')
					prec = prec * 10 + (*fmt++ - '0');
		}
		int lng = 0; /* 0 int, 1 long, 2 long long, -1 short, -2 char */
		for (;; fmt++) {
			if (*fmt == 'l')
				lng++;
			else if (*fmt == 'z')
				lng = 1;
			else if (*fmt == 'h')
				lng--;
			else
				break;
		}
		char tmp[24];
		unsigned long long v;
		int base = 10;
		bool neg = false;
		switch (*fmt) {
		case 'c':
			tmp[0] = (char)va_arg(ap, int);
			put_padded(s, tmp, 1, width, left, ' ');
			continue;
		case 's': {
			const char *str = va_arg(ap, const char *);
			if (!str)
				str = "(null)";
			size_t n = prec >= 0 ? strnlen(str, (size_t)prec) : strlen(str);
			put_padded(s, str, n, width, left, ' ');
			continue;
		}
		case '%':
			put(s, '%');
			continue;
		case 'p':
			v = (unsigned long long)(uintptr_t)va_arg(ap, void *);
			base = 16;
			put(s, '0');
			put(s, 'x');
			break;
		case 'd':
		case 'i': {
			long long sv = lng >= 2 ? va_arg(ap, long long) : lng == 1 ? va_arg(ap, long) : va_arg(ap, int);
			if (lng == -1)
				sv = (short)sv;
			else if (lng <= -2)
				sv = (signed char)sv;
			neg = sv < 0;
			v = neg ? 0ULL - (unsigned long long)sv : (unsigned long long)sv;
			break;
		}
		case 'u':
		case 'x':
		case 'X':
		case 'o':
			v = lng >= 2 ? va_arg(ap, unsigned long long) : lng == 1 ? va_arg(ap, unsigned long) : va_arg(ap, unsigned int);
			if (lng == -1)
				v = (unsigned short)v;
			else if (lng <= -2)
				v = (unsigned char)v;
			base = *fmt == 'u' ? 10 : *fmt == 'o' ? 8 : 16;
			break;
		default: /* unknown conversion: print it verbatim so the mistake is visible */
			put(s, '%');
			if (*fmt)
				put(s, *fmt);
			else
				fmt--;
			continue;
		}
		const char *digits = *fmt == 'X' ? "0123456789ABCDEF" : "0123456789abcdef";
		int n = 0;
		do {
			tmp[sizeof(tmp) - 1 - n++] = digits[v % base];
			v /= base;
		} while (v);
		if (neg) {
			if (pad == '0') {
				put(s, '-');
				width--;
			} else
				tmp[sizeof(tmp) - 1 - n++] = '-';
		}
		put_padded(s, tmp + sizeof(tmp) - n, n, width, left, left ? ' ' : pad);
	}
	return (int)s->len;
}

int vprintf(const char *fmt, va_list ap)
{
	struct sink s = { 0 };
	return format(&s, fmt, ap);
}

int printf(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vprintf(fmt, ap);
	va_end(ap);
	return n;
}

int vsnprintf(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct sink s = { buf, cap, 0 };
	int n = format(&s, fmt, ap);
	if (cap)
		buf[s.len < cap ? s.len : cap - 1] = '\0';
	return n;
}

int snprintf(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}
