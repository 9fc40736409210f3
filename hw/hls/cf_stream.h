// convflow HLS library: stream words and the plumbing stages (width converters, fork, concatenation, port
// adapters).
//
// Every tensor travels through the dataflow pipeline as a stream of words in NHWC order; a word carries
// LANES consecutive elements (LANES divides the channel count), so a stage that is folded to consume SIMD
// elements or produce PE elements per cycle sees words of exactly that many lanes.
#ifndef CONVFLOW_CF_STREAM_H
#define CONVFLOW_CF_STREAM_H

// Xilinx's ap_int and hls::stream simulation models: their default constructors read a word before setting it,
// which g++ -O2 reports (as -Wmaybe-uninitialized) wherever they are inlined.  The warning is silenced for these
// third-party headers only (the flag is also -isystem'd); convflow's own code is compiled with -Wall -Wextra -Werror.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <ap_int.h>
#include <hls_stream.h>
#pragma GCC diagnostic pop

#include "cf_csim.h"

namespace cf {

// One stream word: N elements of type T (N >= 1).
template <typename T, unsigned N>
struct vec {
    T data[N];
    T &operator[](unsigned i) { return data[i]; }
    const T &operator[](unsigned i) const { return data[i]; }
#ifndef CF_HLS_BODY
    // C simulation: words are copied as their bytes where that is the same copy (cf_csim.h)
    vec() {}
    vec(const vec &other) { csim::copier<csim::bytewise<T>::value>::copy(data, other.data); }
    vec &operator=(const vec &other) {
        csim::copier<csim::bytewise<T>::value>::copy(data, other.data);
        return *this;
    }
#endif
};

// Width converter: a frame of ELEMS elements arrives in words of IN_L lanes and leaves in words of OUT_L lanes.
// One of IN_L, OUT_L must be a multiple of the other (the emitter goes through the gcd otherwise).
template <typename T, unsigned IN_L, unsigned OUT_L, unsigned ELEMS>
void convert_width(hls::stream<vec<T, IN_L> > &in, hls::stream<vec<T, OUT_L> > &out) {
    static_assert(IN_L % OUT_L == 0 || OUT_L % IN_L == 0, "lane counts must divide one another");
    static_assert(ELEMS % IN_L == 0 && ELEMS % OUT_L == 0, "lanes must divide the frame");
    if (IN_L >= OUT_L) {
        // split: each input word becomes IN_L / OUT_L output words
        for (unsigned w = 0; w < ELEMS / IN_L; w++) {
            const vec<T, IN_L> x = in.read();
            for (unsigned part = 0; part < IN_L / OUT_L; part++) {
#pragma HLS PIPELINE II = 1
                vec<T, OUT_L> y;
                for (unsigned l = 0; l < OUT_L; l++) {
                    y[l] = x[(part * OUT_L + l) % IN_L];
                }
                out.write(y);
            }
        }
    } else {
        // merge: OUT_L / IN_L input words make one output word
        for (unsigned w = 0; w < ELEMS / OUT_L; w++) {
            vec<T, OUT_L> y;
            for (unsigned part = 0; part < OUT_L / IN_L; part++) {
#pragma HLS PIPELINE II = 1
                const vec<T, IN_L> x = in.read();
                for (unsigned l = 0; l < IN_L; l++) {
                    y[(part * IN_L + l) % OUT_L] = x[l];
                }
            }
            out.write(y);
        }
    }
}

// Fork: a tensor read by two stages (the two branches of a residual block) is copied to two streams.
template <typename W, unsigned WORDS>
void fork2(hls::stream<W> &in, hls::stream<W> &out_a, hls::stream<W> &out_b) {
    for (unsigned w = 0; w < WORDS; w++) {
#pragma HLS PIPELINE II = 1
        const W x = in.read();
        out_a.write(x);
        out_b.write(x);
    }
}

// Channel concatenation (NHWC): for each of PIXELS pixels, the CA channels of a, then the CB channels of b, in
// words of LANES lanes (LANES divides CA and CB).  Each input is read only while its channels are due.
//
// CFG: CA, CB, LANES, PIXELS (unsigned)
template <class CFG, typename TA, typename TB, typename TO>
void concat(hls::stream<vec<TA, CFG::LANES> > &in_a, hls::stream<vec<TB, CFG::LANES> > &in_b,
            hls::stream<vec<TO, CFG::LANES> > &out) {
    static_assert(CFG::CA % CFG::LANES == 0 && CFG::CB % CFG::LANES == 0, "lanes must divide both inputs");
    for (unsigned p = 0; p < CFG::PIXELS; p++) {
        for (unsigned w = 0; w < (CFG::CA + CFG::CB) / CFG::LANES; w++) {
#pragma HLS PIPELINE II = 1
            vec<TO, CFG::LANES> y;
            if (w < CFG::CA / CFG::LANES) {
                const vec<TA, CFG::LANES> x = in_a.read();
                for (unsigned l = 0; l < CFG::LANES; l++) y[l] = TO(x[l]);
            } else {
                const vec<TB, CFG::LANES> x = in_b.read();
                for (unsigned l = 0; l < CFG::LANES; l++) y[l] = TO(x[l]);
            }
            out.write(y);
        }
    }
}

// Port adapters: the top function's AXI-Stream ports carry one element per beat.
template <typename T, unsigned ELEMS>
void from_port(hls::stream<T> &in, hls::stream<vec<T, 1> > &out) {
    for (unsigned e = 0; e < ELEMS; e++) {
#pragma HLS PIPELINE II = 1
        vec<T, 1> y;
        y[0] = in.read();
        out.write(y);
    }
}

template <typename T, unsigned ELEMS>
void to_port(hls::stream<vec<T, 1> > &in, hls::stream<T> &out) {
    for (unsigned e = 0; e < ELEMS; e++) {
#pragma HLS PIPELINE II = 1
        out.write(in.read()[0]);
    }
}

}  // namespace cf

#endif
