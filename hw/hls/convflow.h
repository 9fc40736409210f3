// convflow HLS library: every streaming stage, header-only.  Generated designs include this one header.
//
//   cf_stream.h      stream words (cf::vec), width converters, fork, channel concatenation, port adapters
//   cf_csim.h        the C-simulation bodies' integer types (the same arithmetic as the synthesised bodies)
//   cf_window.h      sliding-window generator (line buffer), window reduction (max / sum / global pools)
//   cf_mvu.h         matrix-vector unit (PE x SIMD folding), depthwise vector unit
//   cf_xnor.h        the matrix-vector unit of binarised layers (XNOR and popcount)
//   cf_activation.h  threshold and shift activations, residual add, label select (argmax)
#ifndef CONVFLOW_H
#define CONVFLOW_H

#include "cf_stream.h"
#include "cf_window.h"
#include "cf_mvu.h"
#include "cf_xnor.h"
#include "cf_activation.h"

#endif
