// convflow HLS library: how the C simulation computes a stage -- the same integer arithmetic, in C integers.
//
// Vitis HLS synthesises every stage's body as written, in ap_int types of exactly the widths the compiler chose:
// that body is the `#ifdef CF_HLS_BODY` branch of each stage that computes (matrix-vector units, thresholds,
// shifts, pools).  In C simulation (g++, no __SYNTHESIS__) Xilinx's ap_int classes cost several times a C integer
// per operation and keep g++ from vectorising (measured: LeNet's two convolutions took 57 % of a csim run at about
// 10 ns per multiply-accumulate), so those stages have a C-simulation body too, written to be the same arithmetic:
//   * the same stream reads and writes in the same order, the same weight indexing, the same results;
//   * every operand held in a C integer type that holds every value of its ap_int type (elem<T>), so the
//     conversion is exact;
//   * every sum kept in a type chosen at compile time from the operand widths and the number of terms (sum_of),
//     int32_t or int64_t when that provably holds every partial sum, else the synthesised body's own accumulator;
//   * every result converted back through the ap_int type the synthesised body assigns it to (TO(TA(sum))):
//     ap_int arithmetic is exact or wraps modulo 2^W, and an exact sum wrapped once equals the sum wrapped at each
//     step, so even an accumulator sized too small (a compiler bug) gives the hardware's wrong answer here too.
// Weight, bias and threshold arrays are read as stored: the compiler writes them in exactly their ap_int type for
// synthesis and checks that every value lies in that type (compiler/emit/hls.py), so TW(w) == w.
//
// -DCF_CSIM_HLS_BODIES compiles the synthesised bodies in C simulation as well (slower; the csim backend's
// hls_bodies=True): the tests run both and compare them.
#ifndef CONVFLOW_CF_CSIM_H
#define CONVFLOW_CF_CSIM_H

#if defined(__SYNTHESIS__) || defined(CF_CSIM_HLS_BODIES)
#define CF_HLS_BODY 1
#endif

#ifndef CF_HLS_BODY
#include <stdint.h>
#include <cstring>
#include <type_traits>
#include <utility>

namespace cf {
namespace csim {

template <bool C, typename A, typename B> struct pick { typedef A type; };
template <typename A, typename B> struct pick<false, A, B> { typedef B type; };

// Width and signedness of the integer types the stages see: ap_int, ap_uint, and the C types of the weight arrays.
template <typename T> struct bits;
template <int W> struct bits<ap_int<W> > { static const int width = W; static const bool is_signed = true; };
template <int W> struct bits<ap_uint<W> > { static const int width = W; static const bool is_signed = false; };
template <> struct bits<int8_t> { static const int width = 8; static const bool is_signed = true; };
template <> struct bits<uint8_t> { static const int width = 8; static const bool is_signed = false; };
template <> struct bits<int16_t> { static const int width = 16; static const bool is_signed = true; };
template <> struct bits<uint16_t> { static const int width = 16; static const bool is_signed = false; };
template <> struct bits<int32_t> { static const int width = 32; static const bool is_signed = true; };
template <> struct bits<uint32_t> { static const int width = 32; static const bool is_signed = false; };
template <> struct bits<int64_t> { static const int width = 64; static const bool is_signed = true; };
template <> struct bits<uint64_t> { static const int width = 64; static const bool is_signed = false; };

// |v| <= 2^magnitude<T> for every value v of T.
template <typename T> struct magnitude {
    static const int value = bits<T>::is_signed ? bits<T>::width - 1 : bits<T>::width;
};

// ceil(log2(N)): a sum of N terms each at most 2^m in magnitude is at most 2^(m + clog2<N>).
template <unsigned N> struct clog2 { static const int value = 1 + clog2<(N + 1) / 2>::value; };
template <> struct clog2<1> { static const int value = 0; };
template <> struct clog2<0> { static const int value = 0; };

// A signed C integer type holding every value v with |v| <= 2^MAG, or FALLBACK where none does.
template <int MAG, typename FALLBACK> struct holding {
    typedef typename pick<(MAG <= 30), int32_t, typename pick<(MAG <= 62), int64_t, FALLBACK>::type>::type type;
};

// The C integer an element of T is held in: signed, holding every value of T (int16_t for the narrow types, so
// that g++ can use 16-bit multiply-add instructions), or T itself where T is wider than 63 bits.
template <typename T> struct elem {
    static const int w = bits<T>::width + (bits<T>::is_signed ? 0 : 1);    // width as a signed type
    typedef typename pick<(w <= 16), int16_t,
            typename pick<(w <= 32), int32_t, typename pick<(w <= 64), int64_t, T>::type>::type>::type type;
};

// The type of bias + sum of TERMS products x * w (x of TX, w of TW, bias of TB): every partial sum, in any order,
// is at most 2^(max(mx + mw + clog2(TERMS), mb) + 1) in magnitude.  TA (the synthesised accumulator) otherwise.
template <typename TX, typename TW, typename TB, unsigned TERMS, typename TA> struct sum_of {
    static const int products = magnitude<TX>::value + magnitude<TW>::value + clog2<TERMS>::value;
    static const int mag = (products > magnitude<TB>::value ? products : magnitude<TB>::value) + 1;
    typedef typename holding<mag, TA>::type type;
};

// Words of these element types are copied as their bytes: an ap_int of at most 64 bits is one C integer holding its
// value (already sign- or zero-extended), so a byte copy is the element-wise copy without its volatile
// re-normalisation of every element (ap_private::clearUnusedBits).
template <typename T> struct bytewise { static const bool value = false; };
template <int W> struct bytewise<ap_int<W> > { static const bool value = W <= 64; };
template <int W> struct bytewise<ap_uint<W> > { static const bool value = W <= 64; };

// (The elements stay constructed: a word kept as raw bytes in a union, never constructed, was miscompiled by g++ 12
// at -O2 -- stores dropped by its lifetime dead-store elimination, fuzz seed 210.)
template <bool BYTES> struct copier {
    template <typename T, unsigned N> static void copy(T (&to)[N], const T (&from)[N]) {
        for (unsigned i = 0; i < N; i++) to[i] = from[i];
    }
};
template <> struct copier<true> {
    template <typename T, unsigned N> static void copy(T (&to)[N], const T (&from)[N]) {
        std::memcpy(static_cast<void *>(to), static_cast<const void *>(from), sizeof(to));
    }
};

// T(v) for a C integer v, the way ap_int converts it: the low W bits of v, read as T's two's complement (ap_int)
// or as unsigned (ap_uint).  A C integer result, without building the ap_int (measured: 5 times faster).
template <typename T> inline int64_t wrap(int64_t v) {
    static const int W = bits<T>::width;
    static_assert(W <= 63 || (W == 64 && bits<T>::is_signed), "wrap: a result outside int64_t");
    if (W >= 64) return v;
    if (bits<T>::is_signed) return int64_t(uint64_t(v) << (64 - W)) >> (64 - W);   // g++: arithmetic shift
    return int64_t(uint64_t(v) & ((uint64_t(1) << (W & 63)) - 1));
}

// e = T(v) for a C integer v.  Where T is an ap_int of at most 64 bits whose value is reachable as e.V.get_VAL()
// (the C-simulation model of Xilinx's headers: one C integer, kept sign- or zero-extended), the wrapped value is
// stored there directly -- what T(v)'s constructor and the assignment compute, without their two volatile
// re-normalisations (measured: the largest share left of a threshold or shift stage).  Other types: e = T(v).
template <typename T, typename = void> struct raw_value { static const bool value = false; };
template <typename T>
struct raw_value<T, decltype((void)std::declval<T &>().V.get_VAL())> {
    static const bool value = bytewise<T>::value && (bits<T>::is_signed || bits<T>::width <= 63);
};
template <bool RAW> struct setter {
    template <typename T> static void set(T &e, int64_t v) { e = T(v); }
};
template <> struct setter<true> {
    template <typename T> static void set(T &e, int64_t v) {
        typedef typename std::remove_reference<decltype(e.V.get_VAL())>::type V;
        e.V.get_VAL() = V(wrap<T>(v));
    }
};
template <typename T> inline void set(T &e, int64_t v) { setter<raw_value<T>::value>::set(e, v); }
// e = T(v) for a sum as narrow<> returns it: a C integer (set), or an ap_int accumulator (converted as written).
template <typename T> inline void assign(T &e, int64_t v) { set(e, v); }
template <typename T, typename U> inline void assign(T &e, const U &v) { e = T(v); }

// A sum held in a C integer, wrapped to the accumulator type T (as assigning it to T does); a sum already held in
// T (no C integer was wide enough) is returned as is.
template <typename T> inline int64_t narrow(int64_t v) { return wrap<T>(v); }
template <typename T> inline const T &narrow(const T &v) { return v; }

}  // namespace csim
}  // namespace cf
#endif

#endif
