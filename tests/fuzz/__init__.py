"""Differential fuzzing of convflow: random valid quantised QONNX models, compiled and run on the reference against
the source model's qonnx execution (and csim, rtlsim), integers compared with ==.

  generate.py  random_spec(seed): a seeded random model description (what the frontend takes today)
  build.py     spec -> onnx.ModelProto (tests/qonnx_builders.Builder), every unit legalised for what it reads
  sample.py    a float sample of each activation while building, so scales fit the values they quantise
  check.py     check(model, backends, workdir): compile, verify, and what failed (mismatch / refused / error)
  qkeras_models.py  the QKeras variant: random QKeras models saved as .h5, compiled from the file, also == Keras
  shrink.py    shrink(spec, failure, ...): the smallest spec that still fails alike; save_regression(...)
  regressions/ the shrunk failures, one .onnx + .json each, run by test_fuzz.py::test_regression forever after
  test_fuzz.py the default-suite run: 300 seeds on reference / qonnx, 60 of them in csim, 30 in rtlsim, and 30
               QKeras seeds on reference / qonnx / Keras

Run it for longer, shrinking and saving what fails (from the repository root):

    PYTHONPATH=tests .venv/bin/python -m fuzz --minutes 30 --backends qonnx,csim,rtlsim

    PYTHONPATH=tests .venv/bin/python -m fuzz --minutes 10 --qkeras

(--start SEED, --count N, --csim-every N, --rtlsim-every N, --inputs N, --no-shrink, --save DIR; see __main__.py.)
"""
