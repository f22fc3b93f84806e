// hwkit: the stable symmetric block  y = Q_out(x - h * K^T Q_mid(relu(K x)))  for hls4ml.
//
// K and K^T read the SAME weight array w (one memory in hardware).
// - MLP form (stable_block): w is stored the way hls4ml stores a Dense weight,
//   w[i * n_hidden + j] = K[j][i]; K x walks it row by row and K^T z column by column.
// - Conv form (stable_conv_block): K is a kernel x kernel "same" convolution from n_chan to n_hidden
//   channels, w[((ky * kernel + kx) * n_chan + c) * n_hidden + o] = K[o][c][ky][kx]. K^T is its adjoint
//   (ConvTranspose with the same weight): t[r][q][c] = sum z[r - ky + P][q - kx + P][o] * w[ky][kx][c][o].
// Every intermediate type is chosen by hwkit so the C++ computes exactly the integers of hwkit's golden
// model: accumulators are wide enough never to wrap, and the two requantizers round half to even and
// saturate like QONNX Quant.
#ifndef NNET_STABLE_BLOCK_H_
#define NNET_STABLE_BLOCK_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

// What both block forms share; hwkit's generated config structs define every member again.
struct stable_block_base_config {
    static const int h_shift = 1;  // h = 2^-h_shift
    static const unsigned reuse_factor = 1;
    typedef float weight_t;
    typedef float acc1_t;
    typedef float mid_t;
    typedef float acc2_t;
    typedef float u_t;
};

struct stable_block_config : stable_block_base_config {
    static const unsigned n_in = 8;
    static const unsigned n_hidden = 8;
};

template <class data_T, class res_T, typename CONFIG_T>
void stable_block(data_T x[CONFIG_T::n_in], res_T y[CONFIG_T::n_in],
                  const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_hidden]) {
    #pragma HLS INLINE off
    #pragma HLS ALLOCATION operation instances=mul limit=(CONFIG_T::n_in * CONFIG_T::n_hidden + CONFIG_T::reuse_factor - 1) / CONFIG_T::reuse_factor
    typename CONFIG_T::mid_t z[CONFIG_T::n_hidden];
    #pragma HLS ARRAY_PARTITION variable=z complete

Forward:
    for (unsigned j = 0; j < CONFIG_T::n_hidden; j++) {
        typename CONFIG_T::acc1_t acc = 0;
        for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
            acc += x[i] * w[i * CONFIG_T::n_hidden + j];  // K x
        }
        z[j] = acc > 0 ? (typename CONFIG_T::mid_t)acc : (typename CONFIG_T::mid_t)0;
    }

Transposed:
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        typename CONFIG_T::acc2_t acc = 0;
        for (unsigned j = 0; j < CONFIG_T::n_hidden; j++) {
            acc += z[j] * w[i * CONFIG_T::n_hidden + j];  // K^T z: same array, other index order
        }
        typename CONFIG_T::u_t t = acc;
        if (CONFIG_T::h_shift >= 0) {
            t = t >> CONFIG_T::h_shift;
        } else {
            t = t << -CONFIG_T::h_shift;
        }
        typename CONFIG_T::u_t u = (typename CONFIG_T::u_t)x[i] - t;
        y[i] = (res_T)u;
    }
}

// io_stream: a vector is one stream word (hls4ml packs a 1-D tensor into one array element).
template <class data_T, class res_T, typename CONFIG_T>
void stable_block(hls::stream<data_T> &x_stream, hls::stream<res_T> &y_stream,
                  const typename CONFIG_T::weight_t w[CONFIG_T::n_in * CONFIG_T::n_hidden]) {
    typename data_T::value_type x[CONFIG_T::n_in];
    typename res_T::value_type y[CONFIG_T::n_in];
    #pragma HLS ARRAY_PARTITION variable=x complete
    #pragma HLS ARRAY_PARTITION variable=y complete
    data_T in = x_stream.read();
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        x[i] = in[i];
    }
    stable_block<typename data_T::value_type, typename res_T::value_type, CONFIG_T>(x, y, w);
    res_T out;
    PRAGMA_DATA_PACK(out)
    for (unsigned i = 0; i < CONFIG_T::n_in; i++) {
        #pragma HLS UNROLL
        out[i] = y[i];
    }
    y_stream.write(out);
}

struct stable_conv_block_config : stable_block_base_config {
    static const unsigned height = 8;
    static const unsigned width = 8;
    static const unsigned n_chan = 8;
    static const unsigned n_hidden = 8;
    static const unsigned kernel = 3;  // odd; padding kernel / 2 keeps the image size
};

// Pixels live in row buffers of ROWS rows, ((row % ROWS) * width + col) * channels + c: the whole frame
// when ROWS == height (io_parallel), a window of 2P + 1 rows when streaming (io_stream).

// z[r][q][:] = Q_mid(relu(K x)) at one pixel; x outside the image is the zero padding.
template <class x_T, typename CONFIG_T, unsigned ROWS>
void stable_conv_forward_pixel(const x_T *xbuf, typename CONFIG_T::mid_t *zbuf, int r, int q,
                               const typename CONFIG_T::weight_t *w) {
    #pragma HLS INLINE
    const int H = CONFIG_T::height, W = CONFIG_T::width, C = CONFIG_T::n_chan, D = CONFIG_T::n_hidden;
    const int K = CONFIG_T::kernel, P = CONFIG_T::kernel / 2;
    for (int o = 0; o < D; o++) {
        typename CONFIG_T::acc1_t acc = 0;
        for (int ky = 0; ky < K; ky++) {
            for (int kx = 0; kx < K; kx++) {
                const int rr = r + ky - P, qq = q + kx - P;
                if (rr < 0 || rr >= H || qq < 0 || qq >= W) continue;
                for (int c = 0; c < C; c++) {
                    acc += xbuf[((rr % ROWS) * W + qq) * C + c] * w[((ky * K + kx) * C + c) * D + o];
                }
            }
        }
        zbuf[((r % ROWS) * W + q) * D + o] = acc > 0 ? (typename CONFIG_T::mid_t)acc : (typename CONFIG_T::mid_t)0;
    }
}

// y[c] = Q_out(x[r][q][c] - h * (K^T z)[r][q][c]) at one pixel: the same w, taps flipped, channels swapped.
template <class x_T, class res_T, typename CONFIG_T, unsigned ROWS>
void stable_conv_transposed_pixel(const x_T *xbuf, const typename CONFIG_T::mid_t *zbuf, int r, int q,
                                  res_T y[CONFIG_T::n_chan], const typename CONFIG_T::weight_t *w) {
    #pragma HLS INLINE
    const int H = CONFIG_T::height, W = CONFIG_T::width, C = CONFIG_T::n_chan, D = CONFIG_T::n_hidden;
    const int K = CONFIG_T::kernel, P = CONFIG_T::kernel / 2;
    for (int c = 0; c < C; c++) {
        typename CONFIG_T::acc2_t acc = 0;
        for (int ky = 0; ky < K; ky++) {
            for (int kx = 0; kx < K; kx++) {
                const int rr = r - ky + P, qq = q - kx + P;
                if (rr < 0 || rr >= H || qq < 0 || qq >= W) continue;
                for (int o = 0; o < D; o++) {
                    acc += zbuf[((rr % ROWS) * W + qq) * D + o] * w[((ky * K + kx) * C + c) * D + o];
                }
            }
        }
        typename CONFIG_T::u_t t = acc;
        if (CONFIG_T::h_shift >= 0) {
            t = t >> CONFIG_T::h_shift;
        } else {
            t = t << -CONFIG_T::h_shift;
        }
        typename CONFIG_T::u_t u = (typename CONFIG_T::u_t)xbuf[((r % ROWS) * W + q) * C + c] - t;
        y[c] = (res_T)u;
    }
}

// io_parallel: the whole frame in, z for the whole frame, then the whole frame out.
template <class data_T, class res_T, typename CONFIG_T>
void stable_conv_block(data_T x[CONFIG_T::height * CONFIG_T::width * CONFIG_T::n_chan],
                       res_T y[CONFIG_T::height * CONFIG_T::width * CONFIG_T::n_chan],
                       const typename CONFIG_T::weight_t
                           w[CONFIG_T::kernel * CONFIG_T::kernel * CONFIG_T::n_chan * CONFIG_T::n_hidden]) {
    #pragma HLS INLINE off
    const unsigned H = CONFIG_T::height, W = CONFIG_T::width, C = CONFIG_T::n_chan;
    typename CONFIG_T::mid_t z[CONFIG_T::height * CONFIG_T::width * CONFIG_T::n_hidden];
Forward:
    for (unsigned r = 0; r < H; r++) {
        for (unsigned q = 0; q < W; q++) {
            stable_conv_forward_pixel<data_T, CONFIG_T, CONFIG_T::height>(x, z, r, q, w);
        }
    }
Transposed:
    for (unsigned r = 0; r < H; r++) {
        for (unsigned q = 0; q < W; q++) {
            stable_conv_transposed_pixel<data_T, res_T, CONFIG_T, CONFIG_T::height>(x, z, r, q, &y[(r * W + q) * C], w);
        }
    }
}

// io_stream: pixels arrive in raster order, one word of n_chan channels each. Two line buffers of
// 2P + 1 rows (x and z) suffice: at step (r, q) of the (H + 2P) x (W + 2P) sweep, x[r][q] arrives,
// z[r - P][q - P] is complete, and y[r - 2P][q - 2P] leaves, in raster order. The residual x is read
// from the x line buffer, so no separate delay FIFO is needed.
template <class data_T, class res_T, typename CONFIG_T>
void stable_conv_block(hls::stream<data_T> &x_stream, hls::stream<res_T> &y_stream,
                       const typename CONFIG_T::weight_t
                           w[CONFIG_T::kernel * CONFIG_T::kernel * CONFIG_T::n_chan * CONFIG_T::n_hidden]) {
    const unsigned H = CONFIG_T::height, W = CONFIG_T::width, C = CONFIG_T::n_chan;
    const unsigned P = CONFIG_T::kernel / 2;
    const unsigned ROWS = 2 * (CONFIG_T::kernel / 2) + 1;
    typename data_T::value_type xbuf[ROWS * CONFIG_T::width * CONFIG_T::n_chan];
    typename CONFIG_T::mid_t zbuf[ROWS * CONFIG_T::width * CONFIG_T::n_hidden];
Sweep:
    for (unsigned r = 0; r < H + 2 * P; r++) {
        for (unsigned q = 0; q < W + 2 * P; q++) {
            if (r < H && q < W) {
                data_T in = x_stream.read();
                for (unsigned c = 0; c < C; c++) {
                    #pragma HLS UNROLL
                    xbuf[((r % ROWS) * W + q) * C + c] = in[c];
                }
            }
            if (r >= P && r < H + P && q >= P && q < W + P) {
                stable_conv_forward_pixel<typename data_T::value_type, CONFIG_T, ROWS>(xbuf, zbuf, r - P, q - P, w);
            }
            if (r >= 2 * P && q >= 2 * P) {
                typename res_T::value_type y[CONFIG_T::n_chan];
                stable_conv_transposed_pixel<typename data_T::value_type, typename res_T::value_type, CONFIG_T, ROWS>(
                    xbuf, zbuf, r - 2 * P, q - 2 * P, y, w);
                res_T out;
                PRAGMA_DATA_PACK(out)
                for (unsigned c = 0; c < C; c++) {
                    #pragma HLS UNROLL
                    out[c] = y[c];
                }
                y_stream.write(out);
            }
        }
    }
}

} // namespace nnet

#endif
