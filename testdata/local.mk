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
