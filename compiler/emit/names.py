"""Legal, unique C++ / Verilog identifiers from arbitrary source-model names.

Layer names come from the source model and may hold anything: punctuation, spaces, ``*/`` (which would end a C
comment), unicode, a leading digit, or a word that is a keyword in C++ or (System)Verilog.  Every name an emitter
writes into generated code goes through ``sanitize_identifier`` so the result is

* made only of ``[A-Za-z0-9_]``, starting with a letter (never ``_``: names with a leading underscore or a double
  underscore are reserved to the C++ implementation),
* not a keyword of C++, C, Verilog-2005 or SystemVerilog, nor a name the generated code itself uses,
* unique within the ``used`` set the caller passes (and added to it),
* at most ``MAX_LENGTH`` characters.

For a name to appear inside a comment (where it is readable for the user) use ``comment_safe``.
"""
from __future__ import annotations

import re
import unicodedata

MAX_LENGTH = 60

CPP_KEYWORDS = frozenset("""
alignas alignof and and_eq asm atomic_cancel atomic_commit atomic_noexcept auto bitand bitor bool break case catch
char char8_t char16_t char32_t class compl concept const consteval constexpr constinit const_cast continue co_await
co_return co_yield decltype default delete do double dynamic_cast else enum explicit export extern false final float
for friend goto if import inline int long module mutable namespace new noexcept not not_eq nullptr operator or or_eq
override private protected public reflexpr register reinterpret_cast requires restrict return short signed sizeof
static static_assert static_cast struct switch synchronized template this thread_local throw true try typedef typeid
typename union unsigned using virtual void volatile wchar_t while xor xor_eq
_Alignas _Alignof _Atomic _Bool _Complex _Generic _Imaginary _Noreturn _Static_assert _Thread_local
""".split())

VERILOG_KEYWORDS = frozenset("""
accept_on alias always always_comb always_ff always_latch and assert assign assume automatic before begin bind bins
binsof bit break buf bufif0 bufif1 byte case casex casez cell chandle checker class clocking cmos config const
constraint context continue cover covergroup coverpoint cross deassign default defparam design disable dist do edge
else end endcase endchecker endclass endclocking endconfig endfunction endgenerate endgroup endinterface endmodule
endpackage endprimitive endprogram endproperty endspecify endsequence endtable endtask enum event eventually expect
export extends extern final first_match for force foreach forever fork forkjoin function generate genvar global
highz0 highz1 if iff ifnone ignore_bins illegal_bins implements implies import incdir include initial inout input
inside instance int integer interconnect interface intersect join join_any join_none large let liblist library local
localparam logic longint macromodule matches medium modport module nand negedge nettype new nexttime nmos nor
noshowcancelled not notif0 notif1 null or output package packed parameter pmos posedge primitive priority program
property protected pull0 pull1 pulldown pullup pulsestyle_ondetect pulsestyle_onevent pure rand randc randcase
randsequence rcmos real realtime ref reg reject_on release repeat restrict return rnmos rpmos rtran rtranif0 rtranif1
s_always s_eventually s_nexttime s_until s_until_with scalared sequence shortint shortreal showcancelled signed small
soft solve specify specparam static string strong strong0 strong1 struct super supply0 supply1 sync_accept_on
sync_reject_on table tagged task this throughout time timeprecision timeunit tran tranif0 tranif1 tri tri0 tri1
triand trior trireg type typedef union unique unique0 unsigned until until_with untyped use uwire var vectored
virtual void wait wait_order wand weak weak0 weak1 while wildcard wire with within wor xnor xor
""".split())

# Names the generated code uses itself (namespaces, types, macros of the C library and the HLS headers).
GENERATED_CODE_NAMES = frozenset("""
main std hls ap_int ap_uint ap_fixed ap_ufixed ap_axis ap_axiu ssdm_int cf convflow convflow_run NULL EOF
assert errno stdin stdout stderr int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t size_t
clk rst reset clock
""".split())

RESERVED = CPP_KEYWORDS | VERILOG_KEYWORDS | GENERATED_CODE_NAMES
_RESERVED_LOWER = frozenset(name.lower() for name in RESERVED)


def _ascii_words(name: str) -> str:
    """Unicode -> closest ASCII (accents dropped), every other character -> '_'."""
    folded = unicodedata.normalize("NFKD", str(name)).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9]+", "_", folded).strip("_")


def sanitize_identifier(name, used: set, reserved=()) -> str:
    """A legal identifier for ``name`` in C++ and Verilog, not in ``used`` (which it is added to).

    ``reserved`` adds caller-specific names to avoid.  Keywords are avoided case-insensitively so that one name
    works in case-insensitive tools as well (``Class`` becomes ``Class_``)."""
    base = _ascii_words(name) or "unnamed"
    if not base[0].isalpha():
        base = "n" + base if base[0] == "_" else "n_" + base
    base = base[:MAX_LENGTH]
    extra = {r.lower() for r in reserved}
    if base.lower() in _RESERVED_LOWER or base.lower() in extra:
        base = base + "_"
    used_lower = {u.lower() for u in used}
    candidate, counter = base, 2
    while candidate.lower() in used_lower or candidate.lower() in _RESERVED_LOWER or candidate.lower() in extra:
        suffix = f"_{counter}"
        candidate = base[:MAX_LENGTH - len(suffix)].rstrip("_") + suffix
        counter += 1
    used.add(candidate)
    return candidate


def comment_safe(text) -> str:
    """``text`` for a single-line C++ / Verilog comment: printable ASCII (others written as <U+XXXX>), no comment
    delimiters, no backslashes or trigraphs (which could continue the line)."""
    folded = "".join(ch if 32 <= ord(ch) < 127 else f"<U+{ord(ch):04X}>" for ch in str(text))
    folded = folded.replace("\\", "<backslash>").replace("??", "? ?")
    return folded.replace("*/", "* /").replace("/*", "/ *")


def c_string(text) -> str:
    """``text`` as a C string literal (ASCII, escaped)."""
    out = []
    for ch in str(text):
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= ord(ch) < 127 and ch != "?":      # '?' escaped: no trigraphs
            out.append(ch)
        else:
            for byte in ch.encode("utf-8"):
                out.append(f"\\{byte:03o}")
    return '"' + "".join(out) + '"'
