// hwkit: the stable symmetric block  y = Q_out(x - h * K^T Q_mid(relu(K x)))  for hls4ml.
//
// K and K^T read the SAME weight array w (one memory in hardware): w is stored the way hls4ml
// stores a Dense weight, w[i * n_hidden + j] = K[j][i], so the first product walks it row by row
// and the second walks it column by column. Every intermediate type is chosen by hwkit so the
// C++ computes exactly the integers of hwkit's golden model: accumulators are wide enough never to
// wrap, and the two requantizers round half to even and saturate like QONNX Quant.
#ifndef NNET_STABLE_BLOCK_H_
#define NNET_STABLE_BLOCK_H_

#include "hls_stream.h"
#include "nnet_common.h"

namespace nnet {

struct stable_block_config {
    static const unsigned n_in = 8;
    static const unsigned n_hidden = 8;
    static const int h_shift = 1;  // h = 2^-h_shift
    static const unsigned reuse_factor = 1;
    typedef float weight_t;
    typedef float acc1_t;
    typedef float mid_t;
    typedef float acc2_t;
    typedef float u_t;
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

} // namespace nnet

#endif
