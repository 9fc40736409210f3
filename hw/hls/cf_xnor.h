// convflow HLS library: the matrix-vector unit of a binarised layer (XNOR and popcount).
#ifndef CONVFLOW_CF_XNOR_H
#define CONVFLOW_CF_XNOR_H

#include "cf_stream.h"

namespace cf {

// The input elements are the bits b of a bipolar tensor (values 2b - 1); every weight is +WSTEP or -WSTEP, stored as
// its sign bit s (1: +WSTEP).  Then sum_k b[k] * W[k][o] = WSTEP * (popcount(xnor(b, s)) + P[o] - K); the compiler
// folds WSTEP * (P[o] - K) into the bias, so out[o] = bias[o] + WSTEP * popcount over the vector.
// Folding and storage follow matrix_vector (cf_mvu.h): signs[p][nf * SF + sf][s] = s(W[sf * SIMD + s][nf * PE + p]).
//
// CFG: K, N, SIMD, PE, VECTORS (unsigned), WSTEP (long long)
#ifndef CF_HLS_BODY
// C simulation (cf_csim.h): the vector's bits read once, each output one count of matching bits over the K
// consecutive signs of its row (the indexing of matrix_vector_csim), the synthesised body's result expression in
// int64_t with each operand wrapped to TB and the count to TA.
template <class CFG, typename TB, typename TA, typename TO, typename TWS, typename TBS>
void xnor_matrix_vector_csim(hls::stream<vec<ap_uint<1>, CFG::SIMD> > &in, hls::stream<vec<TO, CFG::PE> > &out,
                             const TWS signs[CFG::PE][(CFG::N / CFG::PE) * (CFG::K / CFG::SIMD)][CFG::SIMD],
                             const TBS bias[CFG::PE][CFG::N / CFG::PE]) {
    static_assert(csim::bits<TB>::width <= 31, "C simulation holds bias + WSTEP * count in int64_t");
    const unsigned NF = CFG::N / CFG::PE;
    const unsigned SF = CFG::K / CFG::SIMD;
    const int64_t step = csim::wrap<TB>(CFG::WSTEP);
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        uint8_t x[CFG::K];
        for (unsigned sf = 0; sf < SF; sf++) {
            const vec<ap_uint<1>, CFG::SIMD> word = in.read();
            for (unsigned s = 0; s < CFG::SIMD; s++) x[sf * CFG::SIMD + s] = uint8_t(word[s]);
        }
        for (unsigned nf = 0; nf < NF; nf++) {
            vec<TO, CFG::PE> y;
            for (unsigned p = 0; p < CFG::PE; p++) {
                const TWS *row = &signs[p][nf * SF][0];
                unsigned ones = 0;
                for (unsigned k = 0; k < CFG::K; k++) ones += x[k] == (uint8_t(row[k]) & 1) ? 1 : 0;
                const int64_t count = csim::wrap<TA>(ones);
                csim::set(y[p], int64_t(TB(bias[p][nf])) + csim::wrap<TB>(count) * step);
            }
            out.write(y);
        }
    }
}
#endif

template <class CFG, typename TB, typename TA, typename TO, typename TWS, typename TBS>
void xnor_matrix_vector(hls::stream<vec<ap_uint<1>, CFG::SIMD> > &in, hls::stream<vec<TO, CFG::PE> > &out,
                        const TWS signs[CFG::PE][(CFG::N / CFG::PE) * (CFG::K / CFG::SIMD)][CFG::SIMD],
                        const TBS bias[CFG::PE][CFG::N / CFG::PE]) {
    static_assert(CFG::K % CFG::SIMD == 0, "SIMD must divide the matrix rows");
    static_assert(CFG::N % CFG::PE == 0, "PE must divide the output channels");
#ifndef CF_HLS_BODY
    xnor_matrix_vector_csim<CFG, TB, TA, TO>(in, out, signs, bias);
#else
    const unsigned NF = CFG::N / CFG::PE;
    const unsigned SF = CFG::K / CFG::SIMD;
#pragma HLS ARRAY_PARTITION variable = signs complete dim = 1
#pragma HLS ARRAY_PARTITION variable = signs complete dim = 3
#pragma HLS ARRAY_PARTITION variable = bias complete dim = 1
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        vec<ap_uint<1>, CFG::SIMD> buffer[CFG::K / CFG::SIMD];
        for (unsigned nf = 0; nf < NF; nf++) {
            TA count[CFG::PE];
#pragma HLS ARRAY_PARTITION variable = count complete
            for (unsigned p = 0; p < CFG::PE; p++) count[p] = 0;
            for (unsigned sf = 0; sf < SF; sf++) {
#pragma HLS PIPELINE II = 1
                if (nf == 0) buffer[sf] = in.read();
                const vec<ap_uint<1>, CFG::SIMD> x = buffer[sf];
                for (unsigned p = 0; p < CFG::PE; p++) {
                    TA ones = 0;
                    for (unsigned s = 0; s < CFG::SIMD; s++) {
                        ones += (x[s] == ap_uint<1>(signs[p][nf * SF + sf][s])) ? 1 : 0;
                    }
                    count[p] += ones;
                }
            }
            vec<TO, CFG::PE> y;
            for (unsigned p = 0; p < CFG::PE; p++) {
                y[p] = TO(TB(bias[p][nf]) + TB(count[p]) * TB(CFG::WSTEP));
            }
            out.write(y);
        }
    }
#endif
}

}  // namespace cf

#endif
