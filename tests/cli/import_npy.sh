#!/bin/sh
# import_npy.sh - `qdb import-npy`: .npy dumps made by numpy at test time
# become traces; the result is read back with scripts/qdb_torch.py's reader
# (numpy + msgpack only) and compared with the arrays that were saved.
. "${QDB_SRCDIR:?}/tests/cli/lib.sh"

# pycheck TRACE EXPR: EXPR is true for h (header), r ({(sample, layer): tensor
# object}), a(sample, layer) (the array) and names (layer names in order).
pycheck() {
	"$PY" -c "
import sys
sys.path.insert(0, sys.argv[2] + '/scripts')
import numpy as np, qdb_torch as q
h, r = q.read_trace(sys.argv[1])
names = [l['name'] for l in h['layers']]
def a(s, l): return q.tensor_from_obj(r[(s, l)])
sys.exit(0 if ($2) else 1)" "$1" "$QDB_SRCDIR"
}

mk() { # mk DIR PYTHON: runs PYTHON with np imported, inside DIR
	mkdir -p "$1" && (cd "$1" && "$PY" -c "import numpy as np
$2")
}

# --- default pattern: LAYER_SAMPLE.npy ----------------------------------------
mk "$tmp/d" "
for s in range(3):
    np.save('conv1_%04d.npy' % s, np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2) + s)
    np.save('layer1.0.conv_%d.npy' % s, (np.arange(6, dtype=np.int8) - 3 + s).reshape(1, 6))
    np.save('fc_%d.npy' % (s * 5), np.full((1, 10), s, np.float64))"
t "default pattern: exit 0" run 0 "$QDB" import-npy "$tmp/d" -o "$tmp/d.qtr"
t "default pattern: summary line" has "d.qtr: 3 layers, 5 samples, 9 records"
t "default pattern: header" pycheck "$tmp/d.qtr" \
	"h['format'] == 'qdb.trace' and h['stage'] == 'device' and h['model'] == 'd' and sorted(names) == ['conv1', 'fc', 'layer1.0.conv']"
t "default pattern: digits become int ids, values and dtypes kept" pycheck "$tmp/d.qtr" \
	"np.array_equal(a(2, 'conv1'), np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2) + 2) \
	 and a(1, 'layer1.0.conv').dtype == np.int8 and a(1, 'layer1.0.conv')[0, 0] == -2 \
	 and a(10, 'fc').dtype == np.float64 and a(10, 'fc')[0, 3] == 2 and 'scale' not in r[(0, 'conv1')]"
t "qdb info reads the trace" run 0 "$QDB" info "$tmp/d.qtr"

# --- one directory per sample, string ids --------------------------------------
mk "$tmp/s" "
import os
for s in ('frame_a', 'frame_b'):
    os.makedirs(s)
    np.save(s + '/stem.npy', np.zeros((1, 4), np.float32) + len(s))
    np.save(s + '/head.npy', np.ones((1, 2), np.uint8))"
t "dir per sample: --pattern with groups" run 0 "$QDB" import-npy "$tmp/s" -o "$tmp/s.qtr" \
	--pattern '^([^/]+)/(.+)\.npy$' --layer-group 2 --sample-group 1 --stage hbm --model mine
t "dir per sample: string ids, stage and model" pycheck "$tmp/s.qtr" \
	"h['stage'] == 'hbm' and h['model'] == 'mine' and set(k[0] for k in r) == {'frame_a', 'frame_b'} \
	 and a('frame_b', 'head').dtype == np.uint8 and len(r) == 4"
t "default pattern on that layout: refused, names the file" run 2 "$QDB" import-npy "$tmp/s" -o "$tmp/x.qtr"
t "  one-line error" err1 '^qdb import-npy: frame_a/head.npy: does not match the pattern'
t "--ignore-unmatched with nothing left: refused" run 2 "$QDB" import-npy "$tmp/s" -o "$tmp/x.qtr" --ignore-unmatched
mk "$tmp/d" "np.save('input.npy', np.zeros(3, np.float32))"
t "--ignore-unmatched skips input.npy" run 0 "$QDB" import-npy "$tmp/d" -o "$tmp/d2.qtr" --ignore-unmatched
t "  same records as before" pycheck "$tmp/d2.qtr" "len(r) == 9"
rm -f "$tmp/d/input.npy"

# --- manifest ------------------------------------------------------------------
cat >"$tmp/m.txt" <<EOF
# file                 layer   sample  scale zero_point
d/layer1.0.conv_0.npy  conv    0       0.5   3
d/conv1_0001.npy       pre     0
$tmp/d/layer1.0.conv_1.npy conv 1  0.25 -1   # absolute path
EOF
t "manifest: exit 0" run 0 "$QDB" import-npy "$tmp" -m "$tmp/m.txt" -o "$tmp/m.qtr"
t "manifest: layer order of first appearance, scale and zero point" pycheck "$tmp/m.qtr" \
	"names == ['conv', 'pre'] and r[(0, 'conv')]['scale'] == 0.5 and r[(0, 'conv')]['zero_point'] == 3 \
	 and r[(1, 'conv')]['scale'] == 0.25 and r[(1, 'conv')]['zero_point'] == -1 and 'scale' not in r[(0, 'pre')] \
	 and np.array_equal(a(0, 'pre'), np.arange(8, dtype=np.float32).reshape(1, 2, 2, 2) + 1)"
printf 'd/conv1_0000.npy a 0\nd/conv1_0001.npy a 0\n' >"$tmp/dup.txt"
t "manifest: a (layer, sample) twice is refused" run 2 "$QDB" import-npy "$tmp" -m "$tmp/dup.txt" -o "$tmp/x.qtr"
t "  one-line error naming both files" err1 'layer a, sample 0: given twice'
printf 'd/conv1_0000.npy a\n' >"$tmp/bad.txt"
t "manifest: too few fields" run 2 "$QDB" import-npy "$tmp" -m "$tmp/bad.txt" -o "$tmp/x.qtr"
t "  error names file and line" err1 'bad.txt:1: expected FILE LAYER SAMPLE'
printf '# nothing\n\nd/conv1_0000.npy a 0 0 1\n' >"$tmp/bad.txt"
t "manifest: zero scale refused" run 2 "$QDB" import-npy "$tmp" -m "$tmp/bad.txt" -o "$tmp/x.qtr"
t "  error names line 3" err1 'bad.txt:3: scale'
printf 'd/conv1_0000.npy a 0 0.5 1\n' >"$tmp/bad.txt"
t "manifest: a scale on a float array is refused" run 2 "$QDB" import-npy "$tmp" -m "$tmp/bad.txt" -o "$tmp/x.qtr"
t "  one-line error" err1 'not an integer type'
printf 'd/nope.npy a 0\n' >"$tmp/bad.txt"
t "manifest: missing file refused" run 2 "$QDB" import-npy "$tmp" -m "$tmp/bad.txt" -o "$tmp/x.qtr"
t "  one-line error" err1 'nope.npy'
t "manifest: missing manifest refused" run 2 "$QDB" import-npy "$tmp" -m "$tmp/none.txt" -o "$tmp/x.qtr"

# --- --graph: order, ops, qparams ------------------------------------------------
"$PY" -c "
import msgpack, sys
g = {'format': 'qdb.graph', 'version': 1, 'name': 'g', 'stage': 'quantized', 'producer': 'test',
     'profile': {'kind': 'torch', 'rounding': 'half_even'},
     'inputs': [{'name': 'x', 'dtype': 'f32', 'shape': [1, 6]}], 'outputs': ['b'], 'constants': {},
     'qparams': {'a': {'dtype': 'i8', 'scale': 0.125, 'zero_point': -2}},
     'nodes': [{'name': 'a', 'op': 'relu', 'inputs': ['x'], 'outputs': ['a'], 'attrs': {}, 'device': 'bpu'},
               {'name': 'b', 'op': 'identity', 'inputs': ['a'], 'outputs': ['b'], 'attrs': {}, 'device': 'bpu'}]}
open(sys.argv[1], 'wb').write(msgpack.packb(g, use_bin_type=True))" "$tmp/g.qbc"
mk "$tmp/gd" "
np.save('b_0.npy', np.zeros((1, 6), np.float32))
np.save('a_0.npy', np.arange(6, dtype=np.int8).reshape(1, 6))
np.save('zz_0.npy', np.zeros(1, np.float32))"
t "--graph: exit 0" run 0 "$QDB" import-npy "$tmp/gd" -o "$tmp/g.qtr" --graph "$tmp/g.qbc"
t "--graph: node order first, ops, qparams on the int array only" pycheck "$tmp/g.qtr" \
	"names == ['a', 'b', 'zz'] and [l['op'] for l in h['layers']] == ['relu', 'identity', ''] \
	 and r[(0, 'a')]['scale'] == 0.125 and r[(0, 'a')]['zero_point'] == -2 and 'scale' not in r[(0, 'b')]"
t "--graph: unreadable graph refused" run 2 "$QDB" import-npy "$tmp/gd" -o "$tmp/x.qtr" --graph "$tmp/m.txt"

# --- bad input and usage ------------------------------------------------------------
t "no such directory: exit 2" run 2 "$QDB" import-npy "$tmp/nope" -o "$tmp/x.qtr"
t "  one-line error" err1 '^qdb import-npy: .*nope: No such file'
t "a file instead of a directory: exit 2" run 2 "$QDB" import-npy "$tmp/m.txt" -o "$tmp/x.qtr"
t "missing -o: usage error" run 2 "$QDB" import-npy "$tmp/d"
t "bad regex: usage error" run 2 "$QDB" import-npy "$tmp/d" -o "$tmp/x.qtr" -p '(['
t "group beyond the pattern's groups: usage error" run 2 "$QDB" import-npy "$tmp/d" -o "$tmp/x.qtr" --sample-group 3
t "  says how many groups there are" err1 'has 2 capture groups, group 3'
t "same group for layer and sample: usage error" run 2 "$QDB" import-npy "$tmp/d" -o "$tmp/x.qtr" --layer-group 2
t "--manifest with --pattern: usage error" run 2 "$QDB" import-npy "$tmp/d" -o "$tmp/x.qtr" -m "$tmp/m.txt" -p 'x'
mk "$tmp/bad" "
open('c_0.npy', 'wb').write(b'not a numpy file at all')
np.save('f_0.npy', np.asfortranarray(np.zeros((2, 3), np.float32)))"
t "corrupt .npy: exit 2" run 2 "$QDB" import-npy "$tmp/bad" -o "$tmp/x.qtr"
t "  one-line error" err1 'c_0.npy'
rm -f "$tmp/bad/c_0.npy"
t "Fortran-order .npy: exit 2" run 2 "$QDB" import-npy "$tmp/bad" -o "$tmp/x.qtr"
t "failed imports leave no file behind" sh -c "! ls '$tmp'/x.qtr* >/dev/null 2>&1"
t "--help: exit 0" run 0 "$QDB" import-npy --help
t "listed in qdb --help" sh -c "'$QDB' --help | grep -q '^  import-npy '"

done_testing
