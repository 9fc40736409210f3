// convflow HLS library: elementwise stages -- threshold and shift activations, the residual add.
#ifndef CONVFLOW_CF_ACTIVATION_H
#define CONVFLOW_CF_ACTIVATION_H

#include "cf_stream.h"

namespace cf {

// Multi-threshold activation: out = OUT_BASE + #{ j : in >= thresholds[c][j] } for the element's channel c.
// ROWS is C (per-channel thresholds) or 1 (one row for every channel).  A frame is WORDS words of LANES lanes.
// TT: the thresholds' exact type (the array may store them in any integer type holding it: TTS, deduced).
//
// CFG: C, N, ROWS, LANES, WORDS (unsigned), OUT_BASE (int)
#ifndef CF_HLS_BODY
// C simulation (cf_csim.h): the same comparisons, of C integers holding the input and the thresholds exactly.
template <class CFG, typename TI, typename TT, typename TO, typename TTS>
void threshold_csim(hls::stream<vec<TI, CFG::LANES> > &in, hls::stream<vec<TO, CFG::LANES> > &out,
                    const TTS thresholds[CFG::ROWS][CFG::N]) {
    typedef typename csim::elem<TI>::type X;
    typedef typename csim::elem<TT>::type T;
    for (unsigned w = 0; w < CFG::WORDS; w++) {
        const vec<TI, CFG::LANES> x = in.read();
        const unsigned first_channel = (w % (CFG::C / CFG::LANES)) * CFG::LANES;
        vec<TO, CFG::LANES> y;
        for (unsigned l = 0; l < CFG::LANES; l++) {
            const TTS *row = thresholds[CFG::ROWS == 1 ? 0 : first_channel + l];
            const X value = X(x[l]);
            int count = CFG::OUT_BASE;
            for (unsigned j = 0; j < CFG::N; j++) count += value >= T(row[j]) ? 1 : 0;
            csim::set(y[l], int64_t(count));
        }
        out.write(y);
    }
}
#endif

template <class CFG, typename TI, typename TT, typename TO, typename TTS>
void threshold(hls::stream<vec<TI, CFG::LANES> > &in, hls::stream<vec<TO, CFG::LANES> > &out,
               const TTS thresholds[CFG::ROWS][CFG::N]) {
    static_assert(CFG::C % CFG::LANES == 0, "lanes must divide the channels");
    static_assert(CFG::ROWS == 1 || CFG::ROWS == CFG::C, "thresholds: one row, or one per channel");
#ifndef CF_HLS_BODY
    threshold_csim<CFG, TI, TT, TO>(in, out, thresholds);
#else
    for (unsigned w = 0; w < CFG::WORDS; w++) {
#pragma HLS PIPELINE II = 1
        const vec<TI, CFG::LANES> x = in.read();
        const unsigned first_channel = (w % (CFG::C / CFG::LANES)) * CFG::LANES;
        vec<TO, CFG::LANES> y;
        for (unsigned l = 0; l < CFG::LANES; l++) {
            const unsigned row = CFG::ROWS == 1 ? 0 : first_channel + l;
            int count = CFG::OUT_BASE;
            for (unsigned j = 0; j < CFG::N; j++) {
                if (x[l] >= TT(thresholds[row][j])) count++;
            }
            y[l] = TO(count);
        }
        out.write(y);
    }
#endif
}

// Shift activation: out = clip(round_half_even(in * 2^-SHIFT), LO, HI).  SHIFT < 0 is an exact left shift.
// TW is a signed type wide enough for the input shifted left, and for the rounding step (the emitter sizes it).
//
// CFG: SHIFT (int), LO, HI (long long), LANES, WORDS (unsigned)
#ifndef CF_HLS_BODY
// C simulation (cf_csim.h): the synthesised body step by step in int64_t, each value that body assigns to TW
// wrapped as TW would (so a TW too narrow wraps here as in hardware), the clip compared as plain integers.
template <class CFG, typename TI, typename TW, typename TO>
void shift_csim(hls::stream<vec<TI, CFG::LANES> > &in, hls::stream<vec<TO, CFG::LANES> > &out) {
    static_assert(csim::bits<TW>::width <= 62 && csim::bits<TW>::width + (CFG::SHIFT < 0 ? -CFG::SHIFT : 0) <= 62
                  && CFG::SHIFT <= 62, "C simulation holds the shift's working values in int64_t");
    typedef int64_t W;
    const unsigned right = CFG::SHIFT > 0 ? unsigned(CFG::SHIFT) : 0u;
    const unsigned left = CFG::SHIFT < 0 ? unsigned(-CFG::SHIFT) : 0u;
    for (unsigned w = 0; w < CFG::WORDS; w++) {
        const vec<TI, CFG::LANES> x = in.read();
        vec<TO, CFG::LANES> y;
        for (unsigned l = 0; l < CFG::LANES; l++) {
            const W value = csim::wrap<TW>(W(x[l]));
            W result;
            if (right > 0) {
                const W floor = value >> right;                    // arithmetic shift, as ap_int's on TW
                const W remainder = csim::wrap<TW>(value - csim::wrap<TW>(W(uint64_t(floor) << right)));
                const W half = csim::wrap<TW>(W(1) << (right - 1));
                const bool up = remainder > half || (remainder == half && (floor & 1));
                result = up ? csim::wrap<TW>(floor + 1) : floor;
            } else {
                result = csim::wrap<TW>(W(uint64_t(value) << left));
            }
            if (result < CFG::LO) result = CFG::LO;
            if (result > CFG::HI) result = CFG::HI;
            csim::set(y[l], result);
        }
        out.write(y);
    }
}
#endif

template <class CFG, typename TI, typename TW, typename TO>
void shift(hls::stream<vec<TI, CFG::LANES> > &in, hls::stream<vec<TO, CFG::LANES> > &out) {
#ifndef CF_HLS_BODY
    shift_csim<CFG, TI, TW, TO>(in, out);
#else
    const unsigned right = CFG::SHIFT > 0 ? unsigned(CFG::SHIFT) : 0u;
    const unsigned left = CFG::SHIFT < 0 ? unsigned(-CFG::SHIFT) : 0u;
    for (unsigned w = 0; w < CFG::WORDS; w++) {
#pragma HLS PIPELINE II = 1
        const vec<TI, CFG::LANES> x = in.read();
        vec<TO, CFG::LANES> y;
        for (unsigned l = 0; l < CFG::LANES; l++) {
            const TW value = x[l];
            TW result;
            if (right > 0) {
                const TW floor = value >> right;                 // arithmetic shift: rounds towards -infinity
                const TW remainder = value - (floor << right);   // in [0, 2^right)
                const TW half = TW(1) << (right - 1);
                const bool up = remainder > half || (remainder == half && floor[0] == 1);
                result = up ? TW(floor + 1) : floor;
            } else {
                result = value << left;
            }
            if (result < CFG::LO) result = CFG::LO;
            if (result > CFG::HI) result = CFG::HI;
            y[l] = TO(result);
        }
        out.write(y);
    }
#endif
}

// Residual add: out = a * MUL_A + b * MUL_B, both inputs in the same word layout.  TW holds every product and sum.
//
// CFG: MUL_A, MUL_B (long long), LANES, WORDS (unsigned)
template <class CFG, typename TA_IN, typename TB_IN, typename TW, typename TO>
void add(hls::stream<vec<TA_IN, CFG::LANES> > &in_a, hls::stream<vec<TB_IN, CFG::LANES> > &in_b,
         hls::stream<vec<TO, CFG::LANES> > &out) {
    for (unsigned w = 0; w < CFG::WORDS; w++) {
#pragma HLS PIPELINE II = 1
        const vec<TA_IN, CFG::LANES> a = in_a.read();
        const vec<TB_IN, CFG::LANES> b = in_b.read();
        vec<TO, CFG::LANES> y;
        for (unsigned l = 0; l < CFG::LANES; l++) {
            const TW term_a = TW(a[l]) * TW(CFG::MUL_A);
            const TW term_b = TW(b[l]) * TW(CFG::MUL_B);
            y[l] = TO(TW(term_a + term_b));
        }
        out.write(y);
    }
}

// Label select: the index of the largest of C values (the first on a tie, as numpy's argmax), one word per frame.
//
// C, LANES: the values arrive in C / LANES words.
template <unsigned C, unsigned LANES, typename TI, typename TO>
void label_select(hls::stream<vec<TI, LANES> > &in, hls::stream<vec<TO, 1> > &out) {
    TI best = 0;
    unsigned best_index = 0;
    for (unsigned w = 0; w < C / LANES; w++) {
#pragma HLS PIPELINE II = 1
        const vec<TI, LANES> x = in.read();
        for (unsigned l = 0; l < LANES; l++) {
            const unsigned index = w * LANES + l;
            if (index == 0 || x[l] > best) {
                best = x[l];
                best_index = index;
            }
        }
    }
    vec<TO, 1> y;
    y[0] = TO(best_index);
    out.write(y);
}

}  // namespace cf

#endif
