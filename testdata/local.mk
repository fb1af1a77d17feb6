# testdata (see Makefile.am)
# Traces, a dataset, a graph and a .npy file for the CLI tests, made by
# testdata/traces/make.py (helper cli). The demo pair is installed too.
nobase_dist_pkgdata_DATA += testdata/traces/demo_qat.qtr testdata/traces/demo_int.qtr
EXTRA_DIST += testdata/traces/make.py testdata/traces/renamed.map \
	testdata/traces/ref.qtr testdata/traces/same.qtr testdata/traces/perturbed.qtr \
	testdata/traces/nan.qtr testdata/traces/shape.qtr testdata/traces/onesided.qtr \
	testdata/traces/renamed.qtr testdata/traces/int8_a.qtr testdata/traces/int8_b.qtr \
	testdata/traces/longnames.qtr testdata/traces/sample.qds testdata/traces/sample.qbc \
	testdata/traces/sample.npy
# The bundled demo, made by scripts/make-demo (helper torch; testdata/README.md
# documents every file), installed for scripts/run-demo.
TORCH_DEMO_FILES = testdata/digits/qat.qbc testdata/digits/quantized.qbc \
	testdata/digits/quantized-bad.qbc testdata/digits/digits.qds \
	testdata/digits/float.qtr testdata/digits/qat.pt.qtr testdata/digits/int8.qtr \
	testdata/digits/qat-drift.qtr testdata/resnetish/qat.qbc \
	testdata/resnetish/qat.pt.qtr testdata/resnetish/int8.qtr
nobase_dist_pkgdata_DATA += $(TORCH_DEMO_FILES)
EXTRA_DIST += testdata/README.md
