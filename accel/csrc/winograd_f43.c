/* Tile transforms of Winograd F(4x4, 3x3) on channels-last float32 tensors (see inference/winograd.py).
 *
 * The PyTorch formulation of these transforms makes five passes over memory (zero-padded copy, overlapping-tile
 * gather, two small matmuls, layout copy) and costs as much as a third of the convolution; here each is one pass,
 * with the zero padding, an input ReLU, the bias, a residual add and an output ReLU folded in.
 * Tile t = (image * th + tile_row) * tw + tile_col; callers split [t0, t1) across threads. The transformed tiles
 * are tile-major, [tiles][36][C], so that each tile is one contiguous block (the batched matmul takes the 36
 * strided matrices as they are).
 * Plain C, vectorised by the compiler over channels (blocks of CB). Built on first use by inference/native.py.
 */
#include <string.h>

#define CB 64 /* channels per block: a tile's 36 rows of CB floats (9 KB) stay in L1 */

static inline long min_l(long a, long b) { return a < b ? a : b; }

static inline float relu_if(float x, int relu) { return relu && x < 0.0f ? 0.0f : x; }

/* o[q] = sum_a B^T[q][a] s[a] for the 6 rows s[a] = s + a * ss (of max(s, 0) if relu) and o[q] = o + q * os,
 * n channels each */
static inline __attribute__((always_inline)) void bt_rows(const float *restrict s, long ss, float *restrict o,
                                                          long os, long n, int relu) {
    for (long j = 0; j < n; j++) {
        const float s0 = relu_if(s[j], relu), s1 = relu_if(s[ss + j], relu), s2 = relu_if(s[2 * ss + j], relu),
                    s3 = relu_if(s[3 * ss + j], relu), s4 = relu_if(s[4 * ss + j], relu),
                    s5 = relu_if(s[5 * ss + j], relu);
        o[j] = 4.0f * s0 - 5.0f * s2 + s4;
        o[os + j] = -4.0f * (s1 + s2) + s3 + s4;
        o[2 * os + j] = 4.0f * (s1 - s2) - s3 + s4;
        o[3 * os + j] = 2.0f * (s3 - s1) - s2 + s4;
        o[4 * os + j] = 2.0f * (s1 - s3) - s2 + s4;
        o[5 * os + j] = 4.0f * s1 - 5.0f * s3 + s5;
    }
}

/* o[i] = sum_a A^T[i][a] s[a] for the 6 rows s[a] = s + a * ss and the 4 rows o[i] = o + i * os */
static inline __attribute__((always_inline)) void at_rows(const float *restrict s, long ss, float *restrict o, long os, long n) {
    for (long j = 0; j < n; j++) {
        const float s0 = s[j], s1 = s[ss + j], s2 = s[2 * ss + j], s3 = s[3 * ss + j], s4 = s[4 * ss + j],
                    s5 = s[5 * ss + j];
        o[j] = s0 + s1 + s2 + s3 + s4;
        o[os + j] = s1 - s2 + 2.0f * (s3 - s4);
        o[2 * os + j] = s1 + s2 + 4.0f * (s3 + s4);
        o[3 * os + j] = s1 - s2 + 8.0f * (s3 - s4) + s5;
    }
}

/* x: [n][h][w][c] -> v: [p][36][c] with v[t][6i+j] = (B^T d B)[i][j] for the 6x6 window d of every 4x4 output tile
 * (zero outside the image, i.e. padding 1); relu != 0 transforms max(x, 0). */
/* One channel block of tile (ty, tx): the window's rows start at x0 (stride xs between rows) when the window is
 * inside the image, otherwise it is gathered (zero-padded) into d first. */
static inline __attribute__((always_inline)) void input_block(const float *restrict x, float *restrict v, long h,
                                                              long w, long c, long ty, long tx, long img, long cb,
                                                              long nc, int relu, float *restrict d,
                                                              float *restrict r) {
    const long y0 = 4 * ty - 1, x0 = 4 * tx - 1;
    const float *src = x + ((img * h + y0) * w + x0) * c + cb;
    long rs = w * c, cs = c; /* row / column strides of the window */
    if (y0 < 0 || y0 + 6 > h || x0 < 0 || x0 + 6 > w) {
        for (int a = 0; a < 6; a++)
            for (int b = 0; b < 6; b++) {
                const long yy = y0 + a, xx = x0 + b;
                float *dst = d + (6 * a + b) * CB;
                if (yy < 0 || yy >= h || xx < 0 || xx >= w)
                    memset(dst, 0, sizeof(float) * nc);
                else
                    memcpy(dst, x + ((img * h + yy) * w + xx) * c + cb, sizeof(float) * nc);
            }
        src = d, rs = 6 * CB, cs = CB;
    }
    for (int b = 0; b < 6; b++) bt_rows(src + b * cs, rs, r + b * CB, 6 * CB, nc, relu); /* B^T d */
    for (int i = 0; i < 6; i++) bt_rows(r + 6 * i * CB, CB, v + 6 * i * c, c, nc, 0); /* (B^T d) B */
}

/* x: [n][h][w][c] -> v: [p][36][c] with v[t][6i+j] = (B^T d B)[i][j] for the 6x6 window d of every 4x4 output tile
 * (zero outside the image, i.e. padding 1); relu != 0 transforms max(x, 0). */
void winograd_f43_input(const float *restrict x, float *restrict v, long n, long h, long w, long c, int relu,
                        long t0, long t1) {
    const long th = (h + 3) / 4, tw = (w + 3) / 4;
    float d[36 * CB], r[36 * CB];
    for (long t = t0; t < t1; t++) {
        const long img = t / (th * tw), ty = (t / tw) % th, tx = t % tw;
        for (long cb = 0; cb < c; cb += CB) {
            float *vt = v + 36 * t * c + cb;
            if (cb + CB <= c) { /* constant block size: the loops unroll; relu constant for each copy */
                if (relu) input_block(x, vt, h, w, c, ty, tx, img, cb, CB, 1, d, r);
                else input_block(x, vt, h, w, c, ty, tx, img, cb, CB, 0, d, r);
            } else
                input_block(x, vt, h, w, c, ty, tx, img, cb, c - cb, relu, d, r);
        }
    }
}

/* m: [p][36][k] (products summed over input channels) -> y: [n][h][w][k], y = A^T m A (+ bias) (+ residual),
 * then max(y, 0) if relu; the 4x4 tiles are cropped to h x w. bias and residual ([residual_batch][h][w][k],
 * residual_batch 1 (broadcast) or n) may be NULL. */
void winograd_f43_output(const float *restrict m, float *restrict y, const float *restrict bias,
                         const float *restrict residual, long residual_batch, long n, long h, long w, long k,
                         int relu, long t0, long t1) {
    const long th = (h + 3) / 4, tw = (w + 3) / 4;
    float r[24 * CB], o[16 * CB];
    for (long t = t0; t < t1; t++) {
        const long img = t / (th * tw), ty = (t / tw) % th, tx = t % tw;
        for (long cb = 0; cb < k; cb += CB) {
            const long nc = min_l(CB, k - cb);
            for (int q = 0; q < 6; q++) at_rows(m + (36 * t + q) * k + cb, 6 * k, r + q * CB, 6 * CB, nc);
            for (int i = 0; i < 4; i++) at_rows(r + 6 * i * CB, CB, o + 4 * i * CB, CB, nc);
            for (int i = 0; i < 4 && 4 * ty + i < h; i++)
                for (int q = 0; q < 4 && 4 * tx + q < w; q++) {
                    const long pixel = ((4 * ty + i) * w + 4 * tx + q) * k + cb;
                    float *restrict dst = y + img * h * w * k + pixel;
                    const float *restrict res = residual ? residual + (img % residual_batch) * h * w * k + pixel : 0;
                    const float *restrict src = o + (4 * i + q) * CB;
                    for (long j = 0; j < nc; j++) {
                        float val = src[j];
                        if (bias) val += bias[cb + j];
                        if (res) val += res[j];
                        dst[j] = relu && val < 0.0f ? 0.0f : val;
                    }
                }
        }
    }
}
