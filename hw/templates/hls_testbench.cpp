#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iostream>

#include "{{top}}.h"

// Usage: {{top}}_tb INPUTS [EXPECTED [OUTPUTS]]
//   INPUTS:   whitespace-separated integers, IN_ELEMS per frame (NHWC order), as many frames as the file holds
//   EXPECTED: OUT_ELEMS integers per frame; the testbench fails (exit 1) on any difference
//   OUTPUTS:  where to write the outputs, one frame per line (default tb_data/outputs.txt)
int main(int argc, char **argv) {
    const char *inputs = argc > 1 ? argv[1] : "tb_data/inputs.txt";
    const char *expected = argc > 2 ? argv[2] : "tb_data/expected.txt";
    const char *outputs = argc > 3 ? argv[3] : "tb_data/outputs.txt";
    std::ifstream in_file(inputs);
    if (!in_file) {
        std::cerr << "cannot read " << inputs << std::endl;
        return 2;
    }
    std::ifstream expected_file(expected);
    std::ofstream out_file(outputs);
    int frames = 0, mismatches = 0;
    while (true) {
        hls::stream<in_port_t> in_stream("in_stream");
        hls::stream<out_port_t> out_stream("out_stream");
        long long value;
        unsigned e = 0;
        for (; e < IN_ELEMS && (in_file >> value); e++) in_stream.write(in_port_t(value));
        if (e == 0) break;
        if (e != IN_ELEMS) {
            std::cerr << inputs << ": the last frame is incomplete" << std::endl;
            return 2;
        }
        {{top}}(in_stream, out_stream);
        if (out_stream.size() != OUT_ELEMS) {
            std::cerr << "frame " << frames << ": " << out_stream.size() << " outputs, want " << OUT_ELEMS << std::endl;
            return 1;
        }
        for (unsigned o = 0; o < OUT_ELEMS; o++) {
            const long long got = (long long)out_stream.read();
            out_file << got << (o + 1 < OUT_ELEMS ? " " : "\n");
            long long want;
            if (expected_file && (expected_file >> want) && want != got) {
                if (mismatches < 10) {
                    std::cerr << "frame " << frames << " output " << o << ": " << got << ", expected " << want
                              << std::endl;
                }
                mismatches++;
            }
        }
        frames++;
    }
    std::cout << frames << " frames, " << mismatches << " mismatches" << std::endl;
    return mismatches == 0 && frames > 0 ? 0 : 1;
}
