// convflow HLS library: the matrix-vector unit (Conv2D after the window generator, Dense) and the depthwise
// vector unit.
#ifndef CONVFLOW_CF_MVU_H
#define CONVFLOW_CF_MVU_H

#include "cf_stream.h"

namespace cf {

// Matrix-vector unit with PE x SIMD folding.  For each of VECTORS input vectors of K elements (words of SIMD lanes)
// it writes N outputs (words of PE lanes): out[o] = bias[o] + sum_k in[k] * W[k][o].
//
// The K x N matrix is folded into NF = N / PE output folds and SF = K / SIMD input folds; PE rows of SIMD
// multipliers each work on one output channel.  The weights are stored per PE, fold by fold:
//     weights[p][nf * SF + sf][s] = W[sf * SIMD + s][nf * PE + p]      bias[p][nf] = bias[nf * PE + p]
// The input vector is read once (during the first output fold) and kept for the others.
// TW, TB are the weights' and biases' exact types; the arrays may store them in any integer type that holds them
// (TWS, TBS: deduced).  TA is the accumulator: wide enough for every partial sum; TO (the IR's output type) holds
// the final sums.
//
// CFG: K, N, SIMD, PE, VECTORS (unsigned)
#ifndef CF_HLS_BODY
// C simulation (cf_csim.h): the vector is read into C integers, then each output is one dot product over the K
// consecutive weights weights[p][nf * SF + sf][s] (sf < SF, s < SIMD; row-major, so element sf * SIMD + s of the
// row that starts at weights[p][nf * SF]) -- the synthesised body's indexing, in an order g++ vectorises.
template <class CFG, typename TI, typename TW, typename TB, typename TA, typename TO, typename TWS, typename TBS>
void matrix_vector_csim(hls::stream<vec<TI, CFG::SIMD> > &in, hls::stream<vec<TO, CFG::PE> > &out,
                        const TWS weights[CFG::PE][(CFG::N / CFG::PE) * (CFG::K / CFG::SIMD)][CFG::SIMD],
                        const TBS bias[CFG::PE][CFG::N / CFG::PE]) {
    typedef typename csim::elem<TI>::type X;
    typedef typename csim::sum_of<TI, TW, TB, CFG::K, TA>::type S;
    const unsigned NF = CFG::N / CFG::PE;
    const unsigned SF = CFG::K / CFG::SIMD;
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        X x[CFG::K];
        for (unsigned sf = 0; sf < SF; sf++) {
            const vec<TI, CFG::SIMD> word = in.read();
            for (unsigned s = 0; s < CFG::SIMD; s++) x[sf * CFG::SIMD + s] = X(word[s]);
        }
        for (unsigned nf = 0; nf < NF; nf++) {
            S sum[CFG::PE];
            for (unsigned p = 0; p < CFG::PE; p++) {
                const TWS *row = &weights[p][nf * SF][0];
                S dot = S(bias[p][nf]);
                for (unsigned k = 0; k < CFG::K; k++) dot += S(x[k]) * S(row[k]);
                sum[p] = dot;
            }
            vec<TO, CFG::PE> y;
            for (unsigned p = 0; p < CFG::PE; p++) csim::assign(y[p], csim::narrow<TA>(sum[p]));
            out.write(y);
        }
    }
}
#endif

template <class CFG, typename TI, typename TW, typename TB, typename TA, typename TO, typename TWS, typename TBS>
void matrix_vector(hls::stream<vec<TI, CFG::SIMD> > &in, hls::stream<vec<TO, CFG::PE> > &out,
                   const TWS weights[CFG::PE][(CFG::N / CFG::PE) * (CFG::K / CFG::SIMD)][CFG::SIMD],
                   const TBS bias[CFG::PE][CFG::N / CFG::PE]) {
    static_assert(CFG::K % CFG::SIMD == 0, "SIMD must divide the matrix rows");
    static_assert(CFG::N % CFG::PE == 0, "PE must divide the output channels");
#ifndef CF_HLS_BODY
    matrix_vector_csim<CFG, TI, TW, TB, TA, TO>(in, out, weights, bias);
#else
    const unsigned NF = CFG::N / CFG::PE;
    const unsigned SF = CFG::K / CFG::SIMD;
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 1
#pragma HLS ARRAY_PARTITION variable = weights complete dim = 3
#pragma HLS ARRAY_PARTITION variable = bias complete dim = 1
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        vec<TI, CFG::SIMD> buffer[CFG::K / CFG::SIMD];
        for (unsigned nf = 0; nf < NF; nf++) {
            TA acc[CFG::PE];
#pragma HLS ARRAY_PARTITION variable = acc complete
            for (unsigned p = 0; p < CFG::PE; p++) {
                acc[p] = TB(bias[p][nf]);
            }
            for (unsigned sf = 0; sf < SF; sf++) {
#pragma HLS PIPELINE II = 1
                if (nf == 0) buffer[sf] = in.read();
                const vec<TI, CFG::SIMD> x = buffer[sf];
                for (unsigned p = 0; p < CFG::PE; p++) {
                    TA dot = 0;
                    for (unsigned s = 0; s < CFG::SIMD; s++) {
                        dot += x[s] * TW(weights[p][nf * SF + sf][s]);
                    }
                    acc[p] += dot;
                }
            }
            vec<TO, CFG::PE> y;
            for (unsigned p = 0; p < CFG::PE; p++) {
                y[p] = TO(acc[p]);
            }
            out.write(y);
        }
    }
#endif
}

// Depthwise vector unit: each channel has its own KK-tap filter.  Reads VECTORS windows of KK positions x C
// channels (words of SIMD lanes, in the window generator's (ky, kx, c) order) and writes C outputs per window in
// words of PE lanes: out[c] = bias[c] + sum_k in[k][c] * weights[k][c].
//
// TW, TB: exact types of the weights and biases, as for matrix_vector.
//
// CFG: KK, C, SIMD, PE, VECTORS (unsigned)
#ifndef CF_HLS_BODY
// C simulation (cf_csim.h): the same loops, the sums in a C integer that holds every partial sum.
template <class CFG, typename TI, typename TW, typename TB, typename TA, typename TO, typename TWS, typename TBS>
void depthwise_vector_csim(hls::stream<vec<TI, CFG::SIMD> > &in, hls::stream<vec<TO, CFG::PE> > &out,
                           const TWS weights[CFG::KK][CFG::C], const TBS bias[CFG::C]) {
    typedef typename csim::elem<TI>::type X;
    typedef typename csim::sum_of<TI, TW, TB, CFG::KK, TA>::type S;
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        S acc[CFG::C];
        for (unsigned c = 0; c < CFG::C; c++) acc[c] = S(bias[c]);
        for (unsigned k = 0; k < CFG::KK; k++) {
            for (unsigned cf = 0; cf < CFG::C / CFG::SIMD; cf++) {
                const vec<TI, CFG::SIMD> x = in.read();
                for (unsigned s = 0; s < CFG::SIMD; s++) {
                    const unsigned c = cf * CFG::SIMD + s;
                    acc[c] += S(X(x[s])) * S(weights[k][c]);
                }
            }
        }
        for (unsigned nf = 0; nf < CFG::C / CFG::PE; nf++) {
            vec<TO, CFG::PE> y;
            for (unsigned p = 0; p < CFG::PE; p++) csim::assign(y[p], csim::narrow<TA>(acc[nf * CFG::PE + p]));
            out.write(y);
        }
    }
}
#endif

template <class CFG, typename TI, typename TW, typename TB, typename TA, typename TO, typename TWS, typename TBS>
void depthwise_vector(hls::stream<vec<TI, CFG::SIMD> > &in, hls::stream<vec<TO, CFG::PE> > &out,
                      const TWS weights[CFG::KK][CFG::C], const TBS bias[CFG::C]) {
    static_assert(CFG::C % CFG::SIMD == 0 && CFG::C % CFG::PE == 0, "SIMD and PE must divide the channels");
#ifndef CF_HLS_BODY
    depthwise_vector_csim<CFG, TI, TW, TB, TA, TO>(in, out, weights, bias);
#else
#pragma HLS ARRAY_PARTITION variable = weights cyclic factor = CFG::SIMD dim = 2
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        TA acc[CFG::C];
#pragma HLS ARRAY_PARTITION variable = acc cyclic factor = CFG::SIMD
        for (unsigned c = 0; c < CFG::C; c++) {
            acc[c] = TB(bias[c]);
        }
        for (unsigned k = 0; k < CFG::KK; k++) {
            for (unsigned cf = 0; cf < CFG::C / CFG::SIMD; cf++) {
#pragma HLS PIPELINE II = 1
                const vec<TI, CFG::SIMD> x = in.read();
                for (unsigned s = 0; s < CFG::SIMD; s++) {
                    const unsigned c = cf * CFG::SIMD + s;
                    acc[c] += x[s] * TW(weights[k][c]);
                }
            }
        }
        for (unsigned nf = 0; nf < CFG::C / CFG::PE; nf++) {
#pragma HLS PIPELINE II = 1
            vec<TO, CFG::PE> y;
            for (unsigned p = 0; p < CFG::PE; p++) {
                y[p] = TO(acc[nf * CFG::PE + p]);
            }
            out.write(y);
        }
    }
#endif
}

}  // namespace cf

#endif
