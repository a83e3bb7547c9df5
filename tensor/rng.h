/* rng.h - explicit-state random numbers that are the same on every platform.
 *
 * Algorithm (documented so that anyone can reproduce a stream):
 *   state   xoshiro256** (Blackman & Vigna 2018), 4 x uint64.
 *   seeding rng_seed(seed, stream): the four state words are successive outputs of
 *           splitmix64 started at  seed ^ (stream * 0x9E3779B97F4A7C15)  after one extra
 *           splitmix64 scramble of stream, so streams of one seed are unrelated.
 *   uniform rng_uniform(): top 53 bits / 2^53, in [0, 1).
 *   normal  rng_normal(): Marsaglia's polar method on two uniforms mapped to (-1, 1),
 *           using the project's own natural logarithm (rng_log, range reduction with
 *           frexp plus an atanh series, plain + - * / only) and sqrt, which IEEE 754
 *           rounds correctly, so the numbers do not depend on the platform's libm.
 *           Each accepted pair gives two normals; the second is kept in the state.
 *   bounded rng_below(n): Lemire's multiply-and-reject on 32-bit draws, unbiased.
 *   shuffle rng_shuffle(): Fisher-Yates from the last element down.
 * The whole state (including the cached normal) is plain data: checkpoints store it. */
#ifndef CMAD_RNG_H
#define CMAD_RNG_H

#include <stddef.h>
#include <stdint.h>

typedef struct Rng {
    uint64_t s[4];
    double spare; /* cached second normal of the polar method */
    int has_spare;
} Rng;

void rng_seed(Rng *r, uint64_t seed, uint64_t stream);
uint64_t rng_next(Rng *r);              /* raw 64-bit output */
double rng_uniform(Rng *r);             /* [0, 1) */
double rng_normal(Rng *r);              /* N(0, 1) */
uint32_t rng_below(Rng *r, uint32_t n); /* uniform in 0..n-1, n >= 1 */
void rng_shuffle(Rng *r, int *idx, int n);
double rng_log(double x); /* portable natural log for x > 0 */

#endif
