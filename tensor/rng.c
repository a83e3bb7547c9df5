/* rng.c - xoshiro256**, splitmix64 seeding, polar-method normals (see rng.h).
 * Built with floating-point contraction off so that every platform rounds alike. */
#include "rng.h"

#include <math.h>

#include "tensor.h"

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

void rng_seed(Rng *r, uint64_t seed, uint64_t stream)
{
    uint64_t t = stream;
    uint64_t x = seed ^ (splitmix64(&t) * 0x9E3779B97F4A7C15ULL);
    int i;
    for (i = 0; i < 4; i++) r->s[i] = splitmix64(&x);
    if ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0) r->s[0] = 1; /* never all zero */
    r->spare = 0.0;
    r->has_spare = 0;
}

static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t rng_next(Rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rng_uniform(Rng *r) { return (double)(rng_next(r) >> 11) * (1.0 / 9007199254740992.0); }

double rng_log(double x)
{
    /* x = m 2^e with m in [sqrt(1/2), sqrt(2)); log m = 2 atanh(s), s = (m-1)/(m+1). */
    static const double ln2_hi = 6.93147180369123816490e-01;
    static const double ln2_lo = 1.90821492927058770002e-10;
    int e;
    double m, s, s2, term, sum;
    int k;
    CHECK(x > 0.0, "rng_log of a non-positive number");
    m = frexp(x, &e);
    if (m < 0.70710678118654752440) {
        m *= 2.0;
        e -= 1;
    }
    s = (m - 1.0) / (m + 1.0);
    s2 = s * s;
    /* |s| < 0.172, so s^2 < 0.0295 and 13 odd terms reach double precision. */
    sum = 0.0;
    term = 1.0;
    for (k = 0; k < 14; k++) {
        sum += term / (double)(2 * k + 1);
        term *= s2;
    }
    return ((double)e * ln2_lo + 2.0 * s * sum) + (double)e * ln2_hi;
}

double rng_normal(Rng *r)
{
    double u, v, q, f;
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    do {
        u = 2.0 * rng_uniform(r) - 1.0;
        v = 2.0 * rng_uniform(r) - 1.0;
        q = u * u + v * v;
    } while (q >= 1.0 || q == 0.0);
    f = sqrt(-2.0 * rng_log(q) / q);
    r->spare = v * f;
    r->has_spare = 1;
    return u * f;
}

uint32_t rng_below(Rng *r, uint32_t n)
{
    uint64_t m;
    uint32_t lo;
    CHECK(n >= 1, "rng_below(0)");
    m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
    lo = (uint32_t)m;
    if (lo < n) {
        uint32_t threshold = (uint32_t)(-n) % n;
        while (lo < threshold) {
            m = (uint64_t)(uint32_t)(rng_next(r) >> 32) * n;
            lo = (uint32_t)m;
        }
    }
    return (uint32_t)(m >> 32);
}

void rng_shuffle(Rng *r, int *idx, int n)
{
    int i;
    for (i = n - 1; i > 0; i--) {
        int j = (int)rng_below(r, (uint32_t)(i + 1));
        int tmp = idx[i];
        idx[i] = idx[j];
        idx[j] = tmp;
    }
}
