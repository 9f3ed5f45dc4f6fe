#!/usr/bin/python3
"""Checks plaster's own recurrent kernels (plaster:gru, plaster:lstm: src/backend/own_*.c) against
the reference executor (rtol 1e-3, atol 1e-4): random single-node GRU (linear_before_reset 0
and 1) and LSTM models with constant W, R, B over every direction, both layouts, with and
without B and initial states, hidden sizes 5 to 100, batch 1 to 17, seq 1 and 7, input sizes 3
and 32, asking for Y only, Y_h only or both (and Y_c). Each model runs on the cpu backend at
1, 2 and 4 threads (directions run concurrently, batch shares) and once on the plain C loops
(PL_OWN_RNN_PLAIN=1). `plaster info --passes --verbose` must name the own tactic for the node,
and most cases must differ from the reference in the last bits (the reference is not being
compared with itself). Also: inputs the kernels hand back (sequence_lens not all T, other
activations, clip) and a width where oneDNN's RNN is used.
usage: tests/rnn_ops_test.py PLASTER   (Debian's python3 with onnx and numpy)"""
import os, sys, subprocess, tempfile, shutil, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
P = sys.argv[1]
rng = np.random.default_rng(1)
HIDDEN, BATCH, SEQ, INPUT = (5, 16, 64, 100), (1, 3, 9), (1, 7), (3, 32)
OUTS = ('y', 'yh', 'both')
DIRS = ('forward', 'reverse', 'bidirectional')
VARIANTS = (('GRU', 0), ('GRU', 1), ('LSTM', 0))  # (op, linear_before_reset)

def rnn_model(op, lbr, direction, layout, H, N, T, I, bias=True, state=True, outs='both', lens=None, attrs=None):
    """A one-node model; returns (model, feeds). States are graph inputs, weights initializers."""
    D, gates = 2 if direction == 'bidirectional' else 1, 3 if op == 'GRU' else 4
    s = 1.5 / np.sqrt(max(H, I))
    f = lambda *shape: (rng.standard_normal(shape) * s).astype(np.float32)
    inits = [nh.from_array(f(D, gates * H, I), 'W'), nh.from_array(f(D, gates * H, H), 'R')]
    if bias: inits.append(nh.from_array(f(D, 2 * gates * H) * 2, 'B'))
    xs = [N, T, I] if layout else [T, N, I]
    ss = [N, D, H] if layout else [D, N, H]
    ins, feeds = [h.make_tensor_value_info('x', TP.FLOAT, xs)], [rng.standard_normal(xs).astype(np.float32)]
    node_in = ['x', 'W', 'R', 'B' if bias else '', '', '']
    if lens is not None:
        inits.append(nh.from_array(np.array(lens, np.int32), 'lens')); node_in[4] = 'lens'
    n_states = 2 if op == 'LSTM' else 1
    if state:
        for k, name in enumerate(('h0', 'c0')[:n_states]):
            ins.append(h.make_tensor_value_info(name, TP.FLOAT, ss)); feeds.append(rng.standard_normal(ss).astype(np.float32) * 0.5)
            if len(node_in) <= 5 + k: node_in.append('')
            node_in[5 + k] = name
    while node_in and node_in[-1] == '': node_in.pop()
    names = {'y': ['y'], 'yh': ['', 'yh'], 'both': ['y', 'yh'], 'all': ['y', 'yh', 'yc']}[outs]
    shapes = {'y': [N, T, D, H] if layout else [T, D, N, H], 'yh': ss, 'yc': ss}
    a = dict(direction=direction, hidden_size=H, layout=layout, **(attrs or {}))
    if op == 'GRU': a['linear_before_reset'] = lbr
    node = h.make_node(op, node_in, names, **a)
    g = h.make_graph([node], 'g', ins, [h.make_tensor_value_info(n, TP.FLOAT, shapes[n]) for n in names if n], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid('', 14)]), feeds

def tactic_of(path, op):
    r = subprocess.run([P, 'info', path, '--passes', '--verbose'], capture_output=True, text=True)
    for line in r.stdout.splitlines():
        f = line.split()
        if len(f) >= 4 and f[0].isdigit() and f[1] == op: return f[3]
    return None

def run(d, backend, threads=None, plain=False):
    env = dict(os.environ)
    if plain: env['PL_OWN_RNN_PLAIN'] = '1'
    out = f'{d}/{backend}-{threads}-{plain}'
    cmd = [P, 'run', d + '/m.onnx', '--input-dir', d + '/in', '--output-dir', out, '--backend', backend, '--quiet']
    if threads: cmd += ['--threads', str(threads)]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode: return None, r.stderr[-300:]
    res, i = [], 0
    while os.path.exists(f'{out}/output_{i}.pb'):
        t = onnx.TensorProto(); t.ParseFromString(open(f'{out}/output_{i}.pb', 'rb').read()); res.append(nh.to_array(t)); i += 1
    return res, ''

stats = {'checked': 0, 'differ': 0}
def check(name, m, feeds, op, expect_own=True, handed_back=False):
    """Runs m on the reference and on the cpu backend (threads 1, 2, 4, plain C); compares.
    expect_own: the own tactic must be chosen; handed_back: it hands the inputs to another."""
    d = tempfile.mkdtemp(prefix='pl_rnn_ops_'); onnx.save(m, d + '/m.onnx'); os.makedirs(d + '/in')
    try:
        for i, a in enumerate(feeds): open(f'{d}/in/input_{i}.pb', 'wb').write(nh.from_array(a).SerializeToString())
        own = {'GRU': 'plaster:gru', 'LSTM': 'plaster:lstm'}[op]
        t = tactic_of(d + '/m.onnx', op)
        if (t == own) != expect_own:
            print('BAD', name, 'tactic', t, 'expected', own if expect_own else 'not ' + own); return False
        ref, err = run(d, 'reference')
        if ref is None: print('FAIL', name, 'reference', err); return False
        worst, differ = 0.0, False
        for threads, plain in ((1, False), (2, False), (4, False), (2, True)):
            got, err = run(d, 'cpu', threads, plain)
            if got is None: print('FAIL', name, 'cpu threads', threads, err); return False
            if len(got) != len(ref): print('BAD', name, 'outputs', len(got), 'vs', len(ref)); return False
            for a, e in zip(got, ref):
                if a.shape != e.shape or not np.allclose(a, e, rtol=1e-3, atol=1e-4):
                    err = float(np.max(np.abs(a - e))) if a.shape == e.shape else -1
                    print('BAD', name, f'threads {threads}{" plain" if plain else ""}', 'shape', a.shape, e.shape, 'maxerr %.3g' % err)
                    return False
                worst = max(worst, float(np.max(np.abs(a - e))) if a.size else 0.0)
                differ |= not np.array_equal(a, e)
        if expect_own and not handed_back:
            stats['checked'] += 1; stats['differ'] += differ
        print('ok ', name, t, 'maxerr %.3g' % worst)
        return True
    finally:
        shutil.rmtree(d)

bad = 0
k = 0
for op, lbr in VARIANTS:
    for direction in DIRS:
        for layout in (0, 1):
            for H in HIDDEN:
                N, T, I = BATCH[k % 3], SEQ[(k // 3) % 2], INPUT[(k // 2) % 2]
                bias, state, outs = k % 5 != 2, k % 7 not in (1, 4), OUTS[(k // 4) % 3]
                if op == 'LSTM' and outs == 'both' and k % 2: outs = 'all'
                k += 1
                name = f'{op} lbr={lbr} {direction} layout={layout} H={H} N={N} T={T} I={I} B={int(bias)} h0={int(state)} out={outs}'
                m, feeds = rnn_model(op, lbr, direction, layout, H, N, T, I, bias, state, outs)
                bad += not check(name, m, feeds, op)
# more batch entries than threads with a remainder (shares of 4 and 5 / 8 and 9), in both directions
for op, lbr in VARIANTS:
    m, feeds = rnn_model(op, lbr, 'bidirectional', 0, 20, 17, 5, 7)
    bad += not check(f'{op} lbr={lbr} bidirectional N=17', m, feeds, op)
    # sequence_lens all T runs the own kernel; other lengths go to the reference
    m, feeds = rnn_model(op, lbr, 'bidirectional', 1, 16, 3, 4, 5, lens=[4, 4, 4])
    bad += not check(f'{op} lbr={lbr} sequence_lens all T', m, feeds, op)
    m, feeds = rnn_model(op, lbr, 'bidirectional', 0, 16, 3, 4, 5, lens=[4, 2, 3])
    bad += not check(f'{op} lbr={lbr} sequence_lens varied', m, feeds, op, handed_back=True)
    acts = ['Sigmoid', 'Tanh'] if op == 'GRU' else ['Sigmoid', 'Tanh', 'Tanh']
    m, feeds = rnn_model(op, lbr, 'bidirectional', 0, 16, 2, 3, 5, attrs={'activations': acts * 2})
    bad += not check(f'{op} lbr={lbr} default activations named', m, feeds, op)
    m, feeds = rnn_model(op, lbr, 'forward', 0, 16, 2, 3, 5, attrs={'activations': ['HardSigmoid'] + acts[1:]})
    bad += not check(f'{op} lbr={lbr} HardSigmoid', m, feeds, op, expect_own=False)
    m, feeds = rnn_model(op, lbr, 'forward', 0, 16, 2, 3, 5, attrs={'clip': 0.5})
    bad += not check(f'{op} lbr={lbr} clip', m, feeds, op, expect_own=False)
    # H >= 256 and few entries per thread: handed to oneDNN at 2+ threads per direction
    m, feeds = rnn_model(op, lbr, 'forward', 0, 256, 2, 3, 8)
    bad += not check(f'{op} lbr={lbr} H=256', m, feeds, op)
# the own kernels' exp/tanh and summation order differ from the reference's in the last bits:
# identical outputs would mean the reference ran instead
print('own-kernel cases differing from the reference in the last bits: %d of %d' % (stats['differ'], stats['checked']))
if stats['differ'] < stats['checked'] * 0.8:
    print('BAD too few cases differ from the reference: the own kernels may not have run'); bad += 1
print('bad', bad)
sys.exit(1 if bad else 0)
