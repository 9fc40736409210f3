"""Stages that buffer their own output: a free-running pipeline behind a registered credit (hw/rtl/cf_outbuf.v).

The matrix-vector units (cf_mvu, cf_xnor_mvu, cf_dwmvu) and the window-mode sliding-window generator used to stall
by freezing every pipeline register with one enable from m_ready.  On LeNet-fmnist folded for the ECP5-85F that
net reached more than 1,000 clock enables of one unit and was the critical path (14.9 ns of routing on it alone,
52.6 MHz).  Now their pipeline runs free, and a beat that makes an output word is issued only while a registered
credit says the word has a place in the stage's own output FIFO.  That FIFO holds the plan's depth for the stream
plus the words the pipeline can have in flight, less the one of the output register it replaces, and the RTL top
puts no cf_fifo behind the stage (the emitter reads ``buffers_output``).

Words in flight: the most output words among ``latency + 1`` consecutive beats, the latency being the cycles from a
beat's issue to its word's earliest pop (the credit counts a word that long; each module's LAT).  With fewer the
unit would wait for room although nothing holds it back (tests/test_rtl_modules.py measures that).
"""
from __future__ import annotations

from .memory import counter_bits


def most_output_words(beats: int, period: int, run: int) -> int:
    """Most output words among ``beats`` consecutive beats, when runs of ``run`` output beats come every ``period``
    beats (cf_mvu: one every SF beats; cf_dwmvu: CF every KK*CF; cf_swg's window mode: every beat)."""
    return beats // period * run + min(run, beats % period)


def credit_resources(depth: int) -> dict:
    """cf_outbuf's credit next to its FIFO: the counter of words issued and not yet taken (0..depth) and the
    registered room flag."""
    bits = counter_bits(depth + 1)
    return {"lut": 2 * bits + 2, "ff": bits + 1, "bram": 0}


class BuffersOutput:
    """Mixin of a Stage with a cf_outbuf: its class gives ``words_in_flight`` (and may make ``buffers_output`` a
    property, for a module that has the output FIFO in one of its modes only)."""
    buffers_output = True

    def output_fifo_depth(self, stream) -> int:
        if not self.buffers_output:
            return stream.fifo_depth
        return stream.fifo_depth + self.words_in_flight - 1

    def credit_resources(self) -> dict:
        if not self.buffers_output:
            return {"lut": 0, "ff": 0, "bram": 0}
        return credit_resources(self.output_fifo_depth(self.output))
