// C++ unit tests of convflow's HLS stages (hw/hls), driven by tests/test_hls_stages.py.
//
// Usage: stage_tests CASE < data.  stdin holds the number of frames, then the case's constant arrays (weights,
// thresholds) in C order, then the frames; stdout gets every output element, whitespace separated.  Python
// generates the data with numpy and compares the outputs with a numpy reference of the stage.
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <iostream>

#include "convflow.h"

namespace {

long long next_int() {
    long long v;
    if (!(std::cin >> v)) {
        std::cerr << "stage_tests: stdin ended early" << std::endl;
        std::exit(2);
    }
    return v;
}

template <typename T, unsigned L>
void feed(hls::stream<cf::vec<T, L> > &s, unsigned elems) {
    for (unsigned w = 0; w < elems / L; w++) {
        cf::vec<T, L> x;
        for (unsigned l = 0; l < L; l++) x[l] = T(next_int());
        s.write(x);
    }
}

template <typename T, unsigned L>
int drain(hls::stream<cf::vec<T, L> > &s, unsigned elems) {
    if (s.size() != elems / L) {
        std::cerr << "stage wrote " << s.size() << " words, want " << elems / L << std::endl;
        return 1;
    }
    for (unsigned w = 0; w < elems / L; w++) {
        const cf::vec<T, L> y = s.read();
        for (unsigned l = 0; l < L; l++) std::cout << (long long)y[l] << " ";
    }
    std::cout << "\n";
    return 0;
}

template <typename T, unsigned N>
void fill(T (&a)[N]) {
    for (unsigned i = 0; i < N; i++) a[i] = T(next_int());
}
template <typename T, unsigned N, unsigned M>
void fill(T (&a)[N][M]) {
    for (unsigned i = 0; i < N; i++) fill(a[i]);
}
template <typename T, unsigned N, unsigned M, unsigned K>
void fill(T (&a)[N][M][K]) {
    for (unsigned i = 0; i < N; i++) fill(a[i]);
}

// --- sliding window: 5x6x4, 3x3, stride 1, pad 1, 2 lanes in, 4 out ----------------------------------------
struct swg_a {
    static const unsigned IFM_H = 5, IFM_W = 6, C = 4, K_H = 3, K_W = 3, S_H = 1, S_W = 1, PAD_T = 1, PAD_L = 1;
    static const unsigned OFM_H = 5, OFM_W = 6, IN_L = 2, OUT_L = 4;
    static const long long PAD_VALUE = 0;
};
// --- sliding window: 7x7x2, 2x2, stride 3, no pad (rows 5, 6 never used), 1 lane in, 2 out, pad -3 --------
struct swg_b {
    static const unsigned IFM_H = 7, IFM_W = 7, C = 2, K_H = 2, K_W = 2, S_H = 3, S_W = 3, PAD_T = 0, PAD_L = 0;
    static const unsigned OFM_H = 2, OFM_W = 2, IN_L = 1, OUT_L = 2;
    static const long long PAD_VALUE = -3;
};
// --- sliding window: 4x5x3, 3x2 kernel, stride (2, 1), pads top 2 left 1 (bottom 1 right 0), pad -8 ---------
struct swg_c {
    static const unsigned IFM_H = 4, IFM_W = 5, C = 3, K_H = 3, K_W = 2, S_H = 2, S_W = 1, PAD_T = 2, PAD_L = 1;
    static const unsigned OFM_H = 3, OFM_W = 5, IN_L = 3, OUT_L = 1;
    static const long long PAD_VALUE = -8;
};
template <class CFG>
int run_swg(int frames) {
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<6>, CFG::IN_L> > in;
        hls::stream<cf::vec<ap_int<6>, CFG::OUT_L> > out;
        feed(in, CFG::IFM_H * CFG::IFM_W * CFG::C);
        cf::sliding_window<CFG, ap_int<6> >(in, out);
        if (!in.empty()) return 1;
        if (drain(out, CFG::OFM_H * CFG::OFM_W * CFG::K_H * CFG::K_W * CFG::C)) return 1;
    }
    return 0;
}

// --- matrix-vector: K=12, N=6, SIMD=3, PE=2, 4 vectors; uint4 in, int3 weights, int5 bias ------------------
struct mvu_a {
    static const unsigned K = 12, N = 6, SIMD = 3, PE = 2, VECTORS = 4;
};
// --- the same with an accumulator too narrow for the sums (int7, widened to int12 on output): the hardware wraps,
// and so must every body ------------------------------------------------------------------------------------
template <typename TA>
int run_mvu_acc(int frames) {
    static int8_t w[mvu_a::PE][(mvu_a::N / mvu_a::PE) * (mvu_a::K / mvu_a::SIMD)][mvu_a::SIMD];
    static int8_t b[mvu_a::PE][mvu_a::N / mvu_a::PE];
    fill(w);
    fill(b);
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_uint<4>, mvu_a::SIMD> > in;
        hls::stream<cf::vec<ap_int<12>, mvu_a::PE> > out;
        feed(in, mvu_a::K * mvu_a::VECTORS);
        cf::matrix_vector<mvu_a, ap_uint<4>, ap_int<3>, ap_int<5>, TA, ap_int<12> >(in, out, w, b);
        if (!in.empty()) return 1;
        if (drain(out, mvu_a::N * mvu_a::VECTORS)) return 1;
    }
    return 0;
}
int run_mvu(int frames) { return run_mvu_acc<ap_int<12> >(frames); }

// --- depthwise: KK=4, C=4, SIMD=2, PE=4, 3 vectors; int4 in, int4 weights --------------------------------
struct dw_a {
    static const unsigned KK = 4, C = 4, SIMD = 2, PE = 4, VECTORS = 3;
};
int run_dw(int frames) {
    static int8_t w[dw_a::KK][dw_a::C];
    static int8_t b[dw_a::C];
    fill(w);
    fill(b);
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<4>, dw_a::SIMD> > in;
        hls::stream<cf::vec<ap_int<10>, dw_a::PE> > out;
        feed(in, dw_a::KK * dw_a::C * dw_a::VECTORS);
        cf::depthwise_vector<dw_a, ap_int<4>, ap_int<4>, ap_int<4>, ap_int<10>, ap_int<10> >(in, out, w, b);
        if (!in.empty()) return 1;
        if (drain(out, dw_a::C * dw_a::VECTORS)) return 1;
    }
    return 0;
}

// --- threshold: 6 channels, 3 thresholds, 2 lanes, 5 pixels; per channel (ROWS=6) and shared (ROWS=1) -------
template <unsigned R>
struct thr_cfg {
    static const unsigned C = 6, N = 3, ROWS = R, LANES = 2, WORDS = 15;
    static const int OUT_BASE = -1;
};
template <unsigned R>
int run_thr(int frames) {
    static int16_t t[R][3];
    fill(t);
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<9>, 2> > in;
        hls::stream<cf::vec<ap_int<3>, 2> > out;
        feed(in, 30);
        cf::threshold<thr_cfg<R>, ap_int<9>, ap_int<9>, ap_int<3> >(in, out, t);
        if (drain(out, 30)) return 1;
    }
    return 0;
}

// --- shift by S, clip to int5, 4 lanes, 8 words ---------------------------------------------------------
template <int S>
struct shift_cfg {
    static const int SHIFT = S;
    static const long long LO = -16, HI = 15;
    static const unsigned LANES = 4, WORDS = 8;
};
template <int S, typename TW = ap_int<16> >
int run_shift(int frames) {
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<10>, 4> > in;
        hls::stream<cf::vec<ap_int<5>, 4> > out;
        feed(in, 32);
        cf::shift<shift_cfg<S>, ap_int<10>, TW, ap_int<5> >(in, out);
        if (drain(out, 32)) return 1;
    }
    return 0;
}

// --- window reduce: 4 positions x 6 channels, 3 lanes, 2 windows; max and sum --------------------------
template <bool M>
struct reduce_cfg {
    static const unsigned KK = 4, C = 6, LANES = 3, VECTORS = 2;
    static const bool IS_MAX = M;
};
template <bool M, typename TA = ap_int<7> >
int run_reduce(int frames) {
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<5>, 3> > in;
        hls::stream<cf::vec<ap_int<7>, 3> > out;
        feed(in, 48);
        cf::window_reduce<reduce_cfg<M>, ap_int<5>, TA, ap_int<7> >(in, out);
        if (drain(out, 12)) return 1;
    }
    return 0;
}

// --- add: a * 3 + b * -2, uint4 + int5, 2 lanes, 6 words ------------------------------------------------
struct add_cfg {
    static const long long MUL_A = 3, MUL_B = -2;
    static const unsigned LANES = 2, WORDS = 6;
};
int run_add(int frames) {
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_uint<4>, 2> > a;
        hls::stream<cf::vec<ap_int<5>, 2> > b;
        hls::stream<cf::vec<ap_int<8>, 2> > out;
        feed(a, 12);
        feed(b, 12);
        cf::add<add_cfg, ap_uint<4>, ap_int<5>, ap_int<8>, ap_int<8> >(a, b, out);
        if (drain(out, 12)) return 1;
    }
    return 0;
}

// --- width converters 2 -> 6 -> 3 -> 1 and a fork (12 elements per frame) ----------------------------------
int run_convert(int frames) {
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<7>, 2> > s2;
        hls::stream<cf::vec<ap_int<7>, 6> > s6;
        hls::stream<cf::vec<ap_int<7>, 3> > s3, s3a, s3b;
        hls::stream<cf::vec<ap_int<7>, 1> > s1;
        feed(s2, 12);
        cf::convert_width<ap_int<7>, 2, 6, 12>(s2, s6);
        cf::convert_width<ap_int<7>, 6, 3, 12>(s6, s3);
        cf::fork2<cf::vec<ap_int<7>, 3>, 4>(s3, s3a, s3b);
        cf::convert_width<ap_int<7>, 3, 1, 12>(s3a, s1);
        if (drain(s1, 12) || drain(s3b, 12)) return 1;
    }
    return 0;
}

// --- label select over 10 values in 5 words of 2 lanes -------------------------------------------------
int run_label(int frames) {
    for (int f = 0; f < frames; f++) {
        hls::stream<cf::vec<ap_int<6>, 2> > in;
        hls::stream<cf::vec<ap_uint<4>, 1> > out;
        feed(in, 10);
        cf::label_select<10, 2, ap_int<6>, ap_uint<4> >(in, out);
        if (drain(out, 1)) return 1;
    }
    return 0;
}

}  // namespace

int main(int argc, char **argv) {
    if (argc != 2) {
        std::cerr << "usage: stage_tests CASE < data" << std::endl;
        return 2;
    }
    const char *name = argv[1];
    const int frames = int(next_int());
    if (!std::strcmp(name, "swg_a")) return run_swg<swg_a>(frames);
    if (!std::strcmp(name, "swg_b")) return run_swg<swg_b>(frames);
    if (!std::strcmp(name, "swg_c")) return run_swg<swg_c>(frames);
    if (!std::strcmp(name, "mvu")) return run_mvu(frames);
    if (!std::strcmp(name, "mvu_narrow")) return run_mvu_acc<ap_int<7> >(frames);
    if (!std::strcmp(name, "dw")) return run_dw(frames);
    if (!std::strcmp(name, "thr_channel")) return run_thr<6>(frames);
    if (!std::strcmp(name, "thr_shared")) return run_thr<1>(frames);
    if (!std::strcmp(name, "shift_right")) return run_shift<3>(frames);
    if (!std::strcmp(name, "shift_left")) return run_shift<-2>(frames);
    if (!std::strcmp(name, "shift_none")) return run_shift<0>(frames);
    if (!std::strcmp(name, "shift_narrow")) return run_shift<3, ap_int<8> >(frames);
    if (!std::strcmp(name, "shift_left_narrow")) return run_shift<-2, ap_int<10> >(frames);
    if (!std::strcmp(name, "max")) return run_reduce<true>(frames);
    if (!std::strcmp(name, "sum")) return run_reduce<false>(frames);
    if (!std::strcmp(name, "sum_narrow")) return run_reduce<false, ap_int<5> >(frames);
    if (!std::strcmp(name, "max_narrow")) return run_reduce<true, ap_int<4> >(frames);
    if (!std::strcmp(name, "add")) return run_add(frames);
    if (!std::strcmp(name, "convert")) return run_convert(frames);
    if (!std::strcmp(name, "label")) return run_label(frames);
    std::cerr << "unknown case " << name << std::endl;
    return 2;
}
