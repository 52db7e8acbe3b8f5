/* Long double arithmetic exactly as Redis does it (INCRBYFLOAT, HINCRBYFLOAT): strtold,
 * addition and "%.17Lf" formatting in the platform's long double (x87 extended on x86-64).
 * Rust has no long double type, so these few lines are C. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LONG_DOUBLE_CHARS (5 * 1024)

/* Redis string2ld: 1 on success. */
static int parse_ld(const char *s, size_t slen, long double *dp) {
    char buf[MAX_LONG_DOUBLE_CHARS];
    char *eptr;
    long double value;
    if (slen == 0 || slen >= sizeof(buf)) return 0;
    memcpy(buf, s, slen);
    buf[slen] = '\0';
    errno = 0;
    value = strtold(buf, &eptr);
    if (isspace((unsigned char)buf[0]) || eptr[0] != '\0' ||
        ((errno == ERANGE) && (value == HUGE_VALL || value == -HUGE_VALL || fpclassify(value) == FP_ZERO)) ||
        errno == EINVAL || isnan(value))
        return 0;
    *dp = value;
    return 1;
}

/* Adds b to a and writes the result as Redis's ld2string(LD_STR_HUMAN).
 * Returns the length written, -1 if a is not a float, -2 if b is not a float,
 * -3 if the result is NaN or infinite, -4 if the output buffer is too small. */
long tandem_ld_add(const char *a, size_t alen, const char *b, size_t blen, char *out, size_t outlen) {
    long double x, y, v;
    int l;
    if (!parse_ld(a, alen, &x)) return -1;
    if (!parse_ld(b, blen, &y)) return -2;
    v = x + y;
    if (isnan(v) || isinf(v)) return -3;
    l = snprintf(out, outlen, "%.17Lf", v);
    if (l < 0 || (size_t)l + 1 > outlen) return -4;
    if (strchr(out, '.') != NULL) {
        char *p = out + l - 1;
        while (*p == '0') { p--; l--; }
        if (*p == '.') l--;
    }
    if (l == 2 && out[0] == '-' && out[1] == '0') { out[0] = '0'; l = 1; }
    return l;
}
