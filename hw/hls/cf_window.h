// convflow HLS library: the sliding-window generator (line buffer), the window reduction of the pools, and
// nearest-neighbour upsampling.
#ifndef CONVFLOW_CF_WINDOW_H
#define CONVFLOW_CF_WINDOW_H

#include "cf_stream.h"

namespace cf {

// Sliding-window generator.  Reads an IFM_H x IFM_W x C frame (words of IN_L lanes) and writes, for each output
// pixel in row-major order, its K_H x K_W x C window in the order (ky, kx, c) -- the row order of the weight
// matrix, (ky * K_W + kx) * C + c -- as words of OUT_L lanes.  Positions in the padding read PAD_VALUE.  OUT_L
// divides the window, not necessarily C: a word may span channels, pixels and kernel rows (SIMD up to
// K_H * K_W * C, for a first layer with few channels).
//
// The buffer holds the last K_H input rows (a ring indexed by row % K_H).  Before the windows of output row oy
// are written, input rows are read up to the last row that row needs; rows no window needs are read and dropped.
//
// CFG: IFM_H, IFM_W, C, K_H, K_W, S_H, S_W, PAD_T, PAD_L, OFM_H, OFM_W, IN_L, OUT_L (unsigned), PAD_VALUE (long long)
template <class CFG, typename T>
void sliding_window(hls::stream<vec<T, CFG::IN_L> > &in, hls::stream<vec<T, CFG::OUT_L> > &out) {
    static_assert(CFG::C % CFG::IN_L == 0, "input lanes must divide the channels");
    static_assert((CFG::K_H * CFG::K_W * CFG::C) % CFG::OUT_L == 0, "output lanes must divide the window");
    T rows[CFG::K_H][CFG::IFM_W][CFG::C];
#pragma HLS ARRAY_PARTITION variable = rows complete dim = 3
    const T pad = T(CFG::PAD_VALUE);
    int next_row = 0;  // the next input row to read

    for (unsigned oy = 0; oy < CFG::OFM_H; oy++) {
        const int top = int(oy * CFG::S_H) - int(CFG::PAD_T);
        int last = top + int(CFG::K_H) - 1;
        if (last > int(CFG::IFM_H) - 1) last = int(CFG::IFM_H) - 1;
        for (; next_row <= last; next_row++) {
            for (unsigned w = 0; w < CFG::IFM_W * CFG::C / CFG::IN_L; w++) {
#pragma HLS PIPELINE II = 1
                const vec<T, CFG::IN_L> x = in.read();
                for (unsigned l = 0; l < CFG::IN_L; l++) {
                    const unsigned e = w * CFG::IN_L + l;
                    rows[next_row % CFG::K_H][e / CFG::C][e % CFG::C] = x[l];
                }
            }
        }
        for (unsigned ox = 0; ox < CFG::OFM_W; ox++) {
            for (unsigned b = 0; b < CFG::K_H * CFG::K_W * CFG::C / CFG::OUT_L; b++) {
#pragma HLS PIPELINE II = 1
                vec<T, CFG::OUT_L> y;
                for (unsigned l = 0; l < CFG::OUT_L; l++) {
                    const unsigned e = b * CFG::OUT_L + l;         // window element (ky * K_W + kx) * C + c
                    const unsigned c = e % CFG::C;
                    const int iy = top + int(e / (CFG::K_W * CFG::C));
                    const int ix = int(ox * CFG::S_W) - int(CFG::PAD_L) + int((e / CFG::C) % CFG::K_W);
                    const bool inside = iy >= 0 && iy < int(CFG::IFM_H) && ix >= 0 && ix < int(CFG::IFM_W);
                    y[l] = inside ? rows[unsigned(iy) % CFG::K_H][ix][c] : pad;
                }
                out.write(y);
            }
        }
    }
    // rows below the last window (stride larger than what the kernel covers) are still part of the frame
    for (; next_row < int(CFG::IFM_H); next_row++) {
        for (unsigned w = 0; w < CFG::IFM_W * CFG::C / CFG::IN_L; w++) {
#pragma HLS PIPELINE II = 1
            in.read();
        }
    }
}

// Nearest-neighbour upsampling by whole factors: out[y][x] = in[y / S_H][x / S_W].  Each input row is read once and
// kept; it is written S_H times, each pixel S_W times (its C / LANES words in order).
//
// CFG: IFM_H, IFM_W, C, S_H, S_W, LANES (unsigned)
template <class CFG, typename T>
void upsample(hls::stream<vec<T, CFG::LANES> > &in, hls::stream<vec<T, CFG::LANES> > &out) {
    static_assert(CFG::C % CFG::LANES == 0, "lanes must divide the channels");
    const unsigned CF = CFG::C / CFG::LANES;
    vec<T, CFG::LANES> row[CFG::IFM_W * (CFG::C / CFG::LANES)];
    for (unsigned y = 0; y < CFG::IFM_H; y++) {
        for (unsigned r = 0; r < CFG::S_H; r++) {
            for (unsigned x = 0; x < CFG::IFM_W; x++) {
                for (unsigned rep = 0; rep < CFG::S_W; rep++) {
                    for (unsigned cf = 0; cf < CF; cf++) {
#pragma HLS PIPELINE II = 1
                        if (r == 0 && rep == 0) row[x * CF + cf] = in.read();
                        out.write(row[x * CF + cf]);
                    }
                }
            }
        }
    }
}

// Window reduction (max or sum) per channel: reads VECTORS windows of KK positions x C channels, in the order
// the sliding-window generator writes them, and writes one C-channel result per window.  With KK = H * W and
// VECTORS = 1 it is a global pool straight over the frame (no window generator needed).
//
// CFG: KK, C, LANES, VECTORS (unsigned), IS_MAX (bool).  TA: the accumulator (wide enough for a full sum).
#ifndef CF_HLS_BODY
// C simulation (cf_csim.h): each input wrapped to TA as the synthesised body assigns it, the maximum or the exact
// sum in int64_t, the result through TA and TO.
template <class CFG, typename TI, typename TA, typename TO>
void window_reduce_csim(hls::stream<vec<TI, CFG::LANES> > &in, hls::stream<vec<TO, CFG::LANES> > &out) {
    static_assert(csim::magnitude<TA>::value + csim::clog2<CFG::KK>::value <= 62,
                  "C simulation holds the window's sum in int64_t");
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        int64_t acc[CFG::C];
        for (unsigned k = 0; k < CFG::KK; k++) {
            for (unsigned cf = 0; cf < CFG::C / CFG::LANES; cf++) {
                const vec<TI, CFG::LANES> x = in.read();
                for (unsigned l = 0; l < CFG::LANES; l++) {
                    const unsigned c = cf * CFG::LANES + l;
                    const int64_t value = csim::wrap<TA>(int64_t(x[l]));
                    if (k == 0) {
                        acc[c] = value;
                    } else if (CFG::IS_MAX) {
                        if (value > acc[c]) acc[c] = value;
                    } else {
                        acc[c] += value;
                    }
                }
            }
        }
        for (unsigned cf = 0; cf < CFG::C / CFG::LANES; cf++) {
            vec<TO, CFG::LANES> y;
            for (unsigned l = 0; l < CFG::LANES; l++) csim::set(y[l], csim::wrap<TA>(acc[cf * CFG::LANES + l]));
            out.write(y);
        }
    }
}
#endif

template <class CFG, typename TI, typename TA, typename TO>
void window_reduce(hls::stream<vec<TI, CFG::LANES> > &in, hls::stream<vec<TO, CFG::LANES> > &out) {
    static_assert(CFG::C % CFG::LANES == 0, "lanes must divide the channels");
#ifndef CF_HLS_BODY
    window_reduce_csim<CFG, TI, TA, TO>(in, out);
#else
    for (unsigned v = 0; v < CFG::VECTORS; v++) {
        TA acc[CFG::C];
#pragma HLS ARRAY_PARTITION variable = acc cyclic factor = CFG::LANES
        for (unsigned k = 0; k < CFG::KK; k++) {
            for (unsigned cf = 0; cf < CFG::C / CFG::LANES; cf++) {
#pragma HLS PIPELINE II = 1
                const vec<TI, CFG::LANES> x = in.read();
                for (unsigned l = 0; l < CFG::LANES; l++) {
                    const unsigned c = cf * CFG::LANES + l;
                    const TA value = x[l];
                    if (k == 0) {
                        acc[c] = value;
                    } else if (CFG::IS_MAX) {
                        if (value > acc[c]) acc[c] = value;
                    } else {
                        acc[c] = acc[c] + value;
                    }
                }
            }
        }
        for (unsigned cf = 0; cf < CFG::C / CFG::LANES; cf++) {
#pragma HLS PIPELINE II = 1
            vec<TO, CFG::LANES> y;
            for (unsigned l = 0; l < CFG::LANES; l++) {
                y[l] = TO(acc[cf * CFG::LANES + l]);
            }
            out.write(y);
        }
    }
#endif
}

}  // namespace cf

#endif
