#!/usr/bin/python3
"""Checks the CPU backend's oneDNN tactics for element-wise, binary, normalization, softmax,
concat/sum and resize ops, Winograd convolutions, the own SiLU after a primitive and the fused
squeeze-excitation node, against the reference executor (rtol 1e-3, atol 1e-4): small models
that put each op between convolutions (so it reads and writes oneDNN's blocked layouts, with
channel counts that fill the blocks and ones that do not), broadcasts both ways, plain inputs
large enough to stay on oneDNN, a 21-input Concat, LayerNormalization over trailing axes.
usage: tests/dnnl_ops_test.py PLASTER   (Debian's python3 with onnx and numpy)"""
import os, sys, json, subprocess, tempfile, shutil, glob, numpy as np, onnx
from onnx import helper as h, TensorProto as TP, numpy_helper as nh
P = sys.argv[1]
os.makedirs('/tmp', exist_ok=True)
rng = np.random.default_rng(0)
def init(name, a): return nh.from_array(np.asarray(a), name)
def conv(x, y, cin, cout, inits, k=3):
    w = f'{y}_w'; inits.append(init(w, (rng.standard_normal((cout, cin, k, k)) * 0.3).astype(np.float32)))
    return h.make_node('Conv', [x, w], [y], pads=[k//2]*4)
def model(nodes, inits, inputs, out, out_shape=None, opset=17):
    g = h.make_graph(nodes, 'g', [h.make_tensor_value_info(n, TP.FLOAT, s) for n, s in inputs],
                     [h.make_tensor_value_info(out, TP.FLOAT, out_shape)], inits)
    return h.make_model(g, opset_imports=[h.make_opsetid('', opset)])
def check(name, m, feeds, env=None):
    d = tempfile.mkdtemp(prefix='pl_dnnl_ops_'); onnx.save(m, d + '/m.onnx'); os.makedirs(d + '/in')
    for i, a in enumerate(feeds):
        t = nh.from_array(a); open(f'{d}/in/input_{i}.pb', 'wb').write(t.SerializeToString())
    outs = {}
    for b in ('cpu', 'reference'):
        r = subprocess.run([P, 'run', d + '/m.onnx', '--input-dir', d + '/in', '--output-dir', d + '/' + b, '--backend', b, '--quiet'],
                           capture_output=True, text=True, env=dict(os.environ, **(env or {})) if b == 'cpu' else None)
        if r.returncode: print('FAIL', name, b, r.stderr[-300:]); shutil.rmtree(d); return False
        t = onnx.TensorProto(); t.ParseFromString(open(d + f'/{b}/output_0.pb', 'rb').read()); outs[b] = nh.to_array(t)
    shutil.rmtree(d)
    a, e = outs['cpu'], outs['reference']
    ok = a.shape == e.shape and np.allclose(a, e, rtol=1e-3, atol=1e-4, equal_nan=True)
    err = float(np.nanmax(np.abs(a - e))) if a.shape == e.shape and a.size else -1
    print('ok ' if ok else 'BAD', name, 'maxerr %.3g' % err)
    return ok
bad = 0
def X(c, hw=6): return rng.standard_normal((2, c, hw, hw)).astype(np.float32)
# unary ops between convs
unary = [('Relu', {}), ('LeakyRelu', {'alpha': 0.1}), ('Sigmoid', {}), ('Tanh', {}), ('HardSwish', {}),
         ('HardSigmoid', {'alpha': 0.3, 'beta': 0.4}), ('Elu', {'alpha': 0.7}), ('Exp', {}), ('Abs', {}), ('Neg', {}),
         ('Softplus', {}), ('Mish', {}), ('Round', {}), ('Gelu', {'approximate': 'tanh'}), ('Gelu', {})]
for C in (16, 13):
    for op, attrs in unary:
        inits = []; opset = 20 if op == 'Gelu' else 18
        nodes = [conv('x', 'a', 3, C, inits), h.make_node(op, ['a'], ['b'], **attrs), conv('b', 'y', C, 5, inits)]
        bad += not check(f'{op}{attrs} C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y', opset=opset), [X(3)])
    for op in ('Sqrt', 'Log'):
        inits = []
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('Abs', ['a'], ['a2']), h.make_node(op, ['a2'], ['b']), conv('b', 'y', C, 5, inits)]
        bad += not check(f'Abs+{op} C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    inits = [init('lo', np.float32(-0.5)), init('hi', np.float32(0.7))]
    nodes = [conv('x', 'a', 3, C, inits), h.make_node('Clip', ['a', 'lo', 'hi'], ['b']), conv('b', 'y', C, 5, inits)]
    bad += not check(f'Clip C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    inits = [init('e', np.float32(2.0))]
    nodes = [conv('x', 'a', 3, C, inits), h.make_node('Pow', ['a', 'e'], ['b']), conv('b', 'y', C, 5, inits)]
    bad += not check(f'Pow2 C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    inits = [init('e3', np.float32(3.0))]
    nodes = [h.make_node('Pow', ['x', 'e3'], ['y'])]
    bad += not check(f'Pow3 plain', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    inits = [init('e5', np.float32(0.5))]
    nodes = [h.make_node('Abs', ['x'], ['xa']), h.make_node('Pow', ['xa', 'e5'], ['y'])]
    bad += not check(f'Pow.5 plain', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    # binary: both blocked, blocked + plain (graph input), broadcast per channel, swapped
    for op in ('Add', 'Sub', 'Mul', 'Div', 'Max', 'Min'):
        inits = []
        nodes = [conv('x', 'a', 3, C, inits), conv('x', 'b', 3, C, inits, k=1), h.make_node(op, ['a', 'b'], ['c']), conv('c', 'y', C, 5, inits)]
        bad += not check(f'{op} blocked+blocked C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
        inits = []
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('Abs', ['a'], ['a1']), h.make_node('Add', ['a1', 'one'], ['a2']), h.make_node(op, ['p', 'a2'], ['c']), conv('c', 'y', C, 5, inits)]
        inits.append(init('one', np.float32(1)))
        bad += not check(f'{op} plain+blocked C={C}', model(nodes, inits, [('x', [2, 3, 6, 6]), ('p', [2, C, 6, 6])], 'y'), [X(3), X(C) + 3])
        inits = [init('s', (rng.random((C, 1, 1)) + 0.5).astype(np.float32))]
        nodes = [conv('x', 'a', 3, C, inits), h.make_node(op, ['a', 's'], ['c']), conv('c', 'y', C, 5, inits)]
        bad += not check(f'{op} blocked+bcast C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
        inits = [init('s', (rng.random((C, 1, 1)) + 0.5).astype(np.float32))]
        inits.append(init('one', np.float32(1)))  # a divisor away from 0
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('Abs', ['a'], ['a1']), h.make_node('Add', ['a1', 'one'], ['a2']),
                 h.make_node(op, ['s', 'a2'], ['c']), conv('c', 'y', C, 5, inits)]
        bad += not check(f'{op} bcast+blocked C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
        inits = []
        nodes = [h.make_node(op, ['p', 'q'], ['y'])]
        bad += not check(f'{op} plain bcast rank', model(nodes, inits, [('p', [64, 2, 50]), ('q', [50])], 'y'), [rng.standard_normal((64, 2, 50)).astype(np.float32), rng.random(50).astype(np.float32) + 0.5])
        nodes = [h.make_node(op, ['q', 'p'], ['y'])]
        bad += not check(f'{op} plain bcast rank swapped', model(nodes, inits, [('p', [40, 3, 50]), ('q', [3, 1])], 'y'), [rng.standard_normal((40, 3, 50)).astype(np.float32), rng.random((3, 1)).astype(np.float32) + 0.5])
        nodes = [h.make_node(op, ['q', 'p'], ['y'])]
        bad += not check(f'{op} both bcast', model(nodes, inits, [('p', [4, 1]), ('q', [1, 3])], 'y'), [rng.standard_normal((4, 1)).astype(np.float32), rng.random((1, 3)).astype(np.float32) + 0.5])
    for sshape in ((C, 1, 1), (1,), (6,), (C, 6, 6)):
        inits = [init('sl', (rng.standard_normal(sshape) * 0.3).astype(np.float32))]
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('PRelu', ['a', 'sl'], ['c']), conv('c', 'y', C, 5, inits)]
        bad += not check(f'PRelu {sshape} C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    # BN after a non-conv (not folded), LRN, Softmax over channels, Resize
    inits = [init('bs', rng.random(C).astype(np.float32) + .5), init('bb', rng.standard_normal(C).astype(np.float32)),
             init('bm', rng.standard_normal(C).astype(np.float32)), init('bv', rng.random(C).astype(np.float32) + .5)]
    nodes = [conv('x', 'a', 3, C, inits), h.make_node('Relu', ['a'], ['r']), h.make_node('BatchNormalization', ['r', 'bs', 'bb', 'bm', 'bv'], ['c'], epsilon=1e-3), conv('c', 'y', C, 5, inits)]
    bad += not check(f'BN C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    for size in (3, 5, 4):
        inits = []
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('LRN', ['a'], ['c'], size=size, alpha=0.01, beta=0.6, bias=1.5), conv('c', 'y', C, 5, inits)]
        bad += not check(f'LRN {size} C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    for op in ('Softmax', 'LogSoftmax'):
        for opset, axis in ((13, 1), (13, -1), (11, 1), (11, 2), (11, 0)):
            inits = []
            nodes = [conv('x', 'a', 3, C, inits), h.make_node(op, ['a'], ['c'], axis=axis), conv('c', 'y', C, 5, inits)]
            bad += not check(f'{op} opset {opset} axis {axis} C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y', opset=opset), [X(3)])
    for mode, ct, nm, sc in (('nearest', 'asymmetric', 'floor', [1, 1, 2, 2]), ('nearest', 'half_pixel', 'round_prefer_floor', [1, 1, 2, 3]),
                             ('nearest', 'pytorch_half_pixel', 'round_prefer_ceil', [1, 1, 3, 1]), ('linear', 'half_pixel', 'round_prefer_floor', [1, 1, 2, 2]),
                             ('linear', 'pytorch_half_pixel', 'round_prefer_floor', [1, 1, 1.5, 0.5]), ('linear', 'half_pixel', 'round_prefer_floor', [1, 1, 0.5, 0.5]),
                             ('nearest', 'asymmetric', 'floor', [1, 1, 0.5, 0.5])):
        inits = [init('sc', np.array(sc, np.float32))]
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('Resize', ['a', '', 'sc'], ['c'], mode=mode, coordinate_transformation_mode=ct, nearest_mode=nm), conv('c', 'y', C, 5, inits)]
        bad += not check(f'Resize {mode} {ct} {nm} {sc} C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y', opset=13), [X(3)])
    # Concat: all blocked (channel axis, and axis 2), mixed, Sum
    inits = []
    nodes = [conv('x', 'a', 3, C, inits), conv('x', 'b', 3, 8, inits, k=1), h.make_node('Concat', ['a', 'b', 'a'], ['c'], axis=1), conv('c', 'y', 2 * C + 8, 5, inits)]
    bad += not check(f'Concat blocked axis1 C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    inits = []
    nodes = [conv('x', 'a', 3, C, inits), conv('x', 'b', 3, C, inits, k=1), h.make_node('Concat', ['a', 'b'], ['c'], axis=2), conv('c', 'y', C, 5, inits)]
    bad += not check(f'Concat blocked axis2 C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
    inits = []
    nodes = [conv('x', 'a', 3, C, inits), h.make_node('Concat', ['p', 'a'], ['c'], axis=1), conv('c', 'y', 2 * C, 5, inits)]
    bad += not check(f'Concat plain+blocked C={C}', model(nodes, inits, [('x', [2, 3, 6, 6]), ('p', [2, C, 6, 6])], 'y'), [X(3), X(C)])
    inits = []
    nodes = [conv('x', 'a', 3, C, inits), conv('x', 'b', 3, C, inits, k=1), h.make_node('Sum', ['a', 'b', 'p', 'a'], ['c']), conv('c', 'y', C, 5, inits)]
    bad += not check(f'Sum mixed C={C}', model(nodes, inits, [('x', [2, 3, 6, 6]), ('p', [2, C, 6, 6])], 'y'), [X(3), X(C)])
    inits = []
    nodes = [conv('x', 'a', 3, C, inits), conv('x', 'b', 3, C, inits, k=1), h.make_node('Sum', ['a', 'b'], ['c']), conv('c', 'y', C, 5, inits)]
    bad += not check(f'Sum blocked C={C}', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
# 3x3 stride-1 convolutions on oneDNN's Winograd kernels (PL_WINOGRAD=1 takes them wherever
# oneDNN has one; unset, each shape measures it against direct) with bias, ReLU and a residual
# sum, channel counts it takes (multiples of 16) and ones it may not, odd sizes, batch 1 and 3
for C, hw, n in ((16, 13, 1), (64, 7, 3), (32, 28, 1), (24, 9, 3)):
    for mode in ('1', ''):
        inits = [init('cb', rng.standard_normal(C).astype(np.float32))]
        w = rng.standard_normal((C, C, 3, 3)).astype(np.float32) * 0.2
        inits += [init('cw', w), init('cw2', w[::-1].copy())]
        nodes = [h.make_node('Conv', ['x', 'cw', 'cb'], ['a'], pads=[1] * 4), h.make_node('Relu', ['a'], ['r']),
                 h.make_node('Conv', ['r', 'cw2'], ['c'], pads=[1] * 4), h.make_node('Add', ['c', 'x'], ['y'])]
        xs = rng.standard_normal((n, C, hw, hw)).astype(np.float32)
        bad += not check(f'Winograd={mode or "measured"} C={C} {hw}x{hw} N={n}',
                         model(nodes, inits, [('x', [n, C, hw, hw])], 'y'), [xs], env={'PL_WINOGRAD': mode})
        if mode == '1' and C % 16 == 0:  # the forced runs did take oneDNN's Winograd kernel
            d = tempfile.mkdtemp(prefix='pl_wino_'); onnx.save(model(nodes, inits, [('x', [n, C, hw, hw])], 'y'), d + '/m.onnx')
            os.makedirs(d + '/in'); open(d + '/in/input_0.pb', 'wb').write(nh.from_array(xs).SerializeToString())
            r = subprocess.run([P, 'run', d + '/m.onnx', '--input-dir', d + '/in', '--output-dir', d + '/o', '--quiet'], capture_output=True, text=True,
                               env=dict(os.environ, PL_WINOGRAD='1', ONEDNN_VERBOSE='1'))
            shutil.rmtree(d)
            used = [ln for ln in r.stdout.splitlines() if ',convolution,' in ln and 'wino' in ln]
            avx512 = 'avx512_core' in r.stdout  # oneDNN 2.6 has Winograd kernels only for AVX-512
            if r.returncode or (avx512 and not used): print('BAD Winograd not used', C, hw, n, r.stderr[-200:]); bad += 1
# SiLU (Sigmoid + Mul) fused after a convolution or a MatMul: plaster's own kernel after the
# primitive (default) and oneDNN's swish post-op (PL_OWN_SILU=0); sizes with a partial vector
for own in ('', '0'):
    for C, hw in ((16, 6), (13, 7), (24, 5)):
        inits = []
        nodes = [conv('x', 'a', 3, C, inits), h.make_node('Sigmoid', ['a'], ['s']), h.make_node('Mul', ['a', 's'], ['y'])]
        xs = (rng.standard_normal((2, 3, hw, hw)) * 4).astype(np.float32)
        bad += not check(f'Conv+SiLU own={own or "1"} C={C} {hw}x{hw}', model(nodes, inits, [('x', [2, 3, hw, hw])], 'y'), [xs],
                         env={'PL_OWN_SILU': own})
    inits = [init('mw', (rng.standard_normal((37, 45)) * 0.5).astype(np.float32))]
    nodes = [h.make_node('MatMul', ['x', 'mw'], ['a']), h.make_node('Sigmoid', ['a'], ['s']), h.make_node('Mul', ['s', 'a'], ['y'])]
    bad += not check(f'MatMul+SiLU own={own or "1"}', model(nodes, inits, [('x', [3, 29, 37])], 'y'),
                     [(rng.standard_normal((3, 29, 37)) * 3).astype(np.float32)], env={'PL_OWN_SILU': own})
# squeeze-excitation blocks (the se pass, plaster:se): x * gate(fc2(act(fc1(mean(x))))) with x
# plain (a graph input; a reference op's output, computed in place), or in the layout a
# convolution leaves (channel counts that fill oneDNN's blocks and ones that do not), x read
# by another node too, batch 1 and 3, 1-D and 2-D; each fused into one node
def se_nodes(x, y, C, R, inits, act='Relu', gate='Sigmoid', bias=True, swap=False, rank=4):
    k = [1] * (rank - 2)
    w1, w2 = f'{y}_w1', f'{y}_w2'
    inits += [init(w1, (rng.standard_normal([R, C] + k) * 0.3).astype(np.float32)),
              init(w2, (rng.standard_normal([C, R] + k) * 0.3).astype(np.float32))]
    if bias:
        inits += [init(w1 + 'b', rng.standard_normal(R).astype(np.float32)), init(w2 + 'b', rng.standard_normal(C).astype(np.float32))]
    nd = [h.make_node('GlobalAveragePool', [x], [y + '_p']),
          h.make_node('Conv', [y + '_p', w1] + ([w1 + 'b'] if bias else []), [y + '_q'])]
    q = y + '_q'
    if act == 'SiLU':
        nd += [h.make_node('Sigmoid', [q], [q + 's']), h.make_node('Mul', [q, q + 's'], [q + 'a'])]; q += 'a'
    elif act:
        nd += [h.make_node(act, [q], [q + 'a'])]; q += 'a'
    nd += [h.make_node('Conv', [q] + [w2] + ([w2 + 'b'] if bias else []), [y + '_r'])]
    g = {'Sigmoid': {}, 'HardSigmoid': {'alpha': 1 / 6, 'beta': 0.5}}[gate]
    nd += [h.make_node(gate, [y + '_r'], [y + '_s'], **g),
           h.make_node('Mul', [y + '_s', x] if swap else [x, y + '_s'], [y])]
    return nd
def se_fused(m):
    d = tempfile.mkdtemp(prefix='pl_se_'); onnx.save(m, d + '/m.onnx')
    r = subprocess.run([P, 'info', d + '/m.onnx', '--passes'], capture_output=True, text=True); shutil.rmtree(d)
    return sum(int(ln.split()[1]) for ln in r.stdout.splitlines() if ln.startswith('  se: ') and 'block(s) fused' in ln)
for n, C, hw, src, act, gate, bias, swap in (
        (1, 16, 6, 'conv', 'SiLU', 'Sigmoid', True, False), (3, 13, 7, 'conv', 'Relu', 'HardSigmoid', True, True),
        (2, 40, 40, 'conv', 'SiLU', 'Sigmoid', False, False), (1, 24, 5, 'input', 'Relu', 'Sigmoid', True, True),
        (3, 32, 9, 'abs', None, 'HardSigmoid', True, False), (2, 96, 3, 'conv', 'Relu', 'Sigmoid', True, False),
        (1, 8, 64, 'shared', 'SiLU', 'Sigmoid', True, False), (2, 32, 12, 'wino', 'SiLU', 'Sigmoid', True, False),
        (3, 40, 30, 'winocat', 'Relu', 'HardSigmoid', True, True)):
    inits = []
    if src == 'input':
        nodes, x0, xin = [], 'x', [n, C, hw, hw]
    elif src == 'wino':  # oneDNN's Winograd convolution leaves nChw16c (PL_WINOGRAD=1, AVX-512)
        nodes, x0, xin = [conv('x', 'a0', 3, 32, inits, k=1), conv('a0', 'a', 32, 32, inits)], 'a', [n, 3, hw, hw]
    elif src == 'winocat':  # ... and a Concat of it with 8 more channels: 40 in blocks of 16
        nodes, x0, xin = [conv('x', 'a0', 3, 32, inits, k=1), conv('a0', 'a1', 32, 32, inits), conv('a0', 'a2', 32, 8, inits, k=1),
                          h.make_node('Concat', ['a1', 'a2'], ['a'], axis=1)], 'a', [n, 3, hw, hw]
    elif src == 'abs':
        nodes, x0, xin = [h.make_node('Abs', ['x'], ['a'])], 'a', [n, C, hw, hw]
    else:
        nodes, x0, xin = [conv('x', 'a', 3, C, inits)], 'a', [n, 3, hw, hw]
    nodes += se_nodes(x0, 'e', C, max(C // 4, 1), inits, act, gate, bias, swap)
    if src == 'shared':  # x read after the block too: no computing in place
        nodes += [conv('e', 'f', C, 5, inits), conv('a', 'g', C, 5, inits), h.make_node('Add', ['f', 'g'], ['y'])]
    else:
        nodes += [conv('e', 'y', C, 5, inits)]
    m = model(nodes, inits, [('x', xin)], 'y')
    name = f'SE {src} N={n} C={C} {hw}x{hw} {act}/{gate} bias={bias}'
    if se_fused(m) != 1: print('BAD not fused:', name); bad += 1
    xs = (rng.standard_normal(xin) * 2).astype(np.float32)
    env = {'PL_WINOGRAD': '1'} if src.startswith('wino') else {}
    bad += not check(name, m, [xs], env=env)
    bad += not check(name + ' PL_OWN_SE=0', m, [xs], env=dict(env, PL_OWN_SE='0'))
# --profile lists the block's time under the fused op at its pooling node, the rest 0 calls
inits = []
m = model([conv('x', 'a', 3, 16, inits)] + se_nodes('a', 'e', 16, 4, inits) + [conv('e', 'y', 16, 5, inits)], inits, [('x', [1, 3, 6, 6])], 'y')
d = tempfile.mkdtemp(prefix='pl_se_prof_'); onnx.save(m, d + '/m.onnx')
r = subprocess.run([P, 'bench', d + '/m.onnx', '--duration', '0.05', '--min-queries', '5', '--warmup-ms', '0', '--profile', '--json'],
                   capture_output=True, text=True); shutil.rmtree(d)
prof = json.loads(r.stdout)['profile'] if r.returncode == 0 else []
se_rows = [p for p in prof if p['op'] == 'SqueezeExcitation']
if len(se_rows) != 1 or se_rows[0]['calls'] < 5 or sum(p['calls'] for p in prof if p['op'] in ('Sigmoid', 'Mul')):
    print('BAD SE profile', r.returncode, r.stderr[-200:], prof); bad += 1
else: print('ok  SE profile: SqueezeExcitation', se_rows[0]['calls'], 'calls')
# an fc Conv with attributes the Conv itself refuses (kernel_shape against 1x1 weights) is not
# fused: the run fails with the Conv's one-line error, on both backends
inits = []
nodes = [conv('x', 'a', 3, 16, inits)] + se_nodes('a', 'y', 16, 4, inits)
for nd in nodes:
    if nd.output[0] == 'y_q': nd.attribute.extend([h.make_attribute('kernel_shape', [3, 3])])
m = model(nodes, inits, [('x', [1, 3, 6, 6])], 'y')
if se_fused(m): print('BAD fused an fc Conv with kernel_shape 3x3'); bad += 1
d = tempfile.mkdtemp(prefix='pl_se_bad_'); onnx.save(m, d + '/m.onnx'); os.makedirs(d + '/in')
open(d + '/in/input_0.pb', 'wb').write(nh.from_array(X(3)[:1]).SerializeToString())
for b in ('cpu', 'reference'):
    r = subprocess.run([P, 'run', d + '/m.onnx', '--input-dir', d + '/in', '--output-dir', d + '/o', '--backend', b], capture_output=True, text=True)
    if r.returncode != 1 or len(r.stderr.strip().splitlines()) != 1: print('BAD SE malformed fc', b, r.returncode, r.stderr[-300:]); bad += 1
    else: print('ok  SE malformed fc refused on', b + ':', r.stderr.strip()[-90:])
shutil.rmtree(d)
# a plan built without oneDNN keeps plaster:se (plaster's own tactics need no oneDNN)
inits = []
m = model([conv('x', 'a', 3, 24, inits)] + se_nodes('a', 'e', 24, 6, inits, act='SiLU') + [conv('e', 'y', 24, 5, inits)], inits, [('x', [2, 3, 9, 9])], 'y')
d = tempfile.mkdtemp(prefix='pl_se_plan_'); onnx.save(m, d + '/m.onnx'); os.makedirs(d + '/in')
xs = rng.standard_normal((2, 3, 9, 9)).astype(np.float32)
open(d + '/in/input_0.pb', 'wb').write(nh.from_array(xs).SerializeToString())
rs = [subprocess.run(c, capture_output=True, text=True) for c in (
    [P, 'build', d + '/m.onnx', '-o', d + '/m.plan', '--no-onednn', '--json'],
    [P, 'run', d + '/m.plan', '--input-dir', d + '/in', '--output-dir', d + '/p', '--quiet'],
    [P, 'run', d + '/m.onnx', '--backend', 'reference', '--input-dir', d + '/in', '--output-dir', d + '/r', '--quiet'])]
if any(r.returncode for r in rs) or 'plaster:se' not in rs[0].stdout:
    print('BAD SE plan without oneDNN', [(r.returncode, r.stderr[-200:]) for r in rs]); bad += 1
else:
    o = [nh.to_array(onnx.load_tensor(d + f'/{k}/output_0.pb')) for k in 'pr']
    ok = np.allclose(o[0], o[1], rtol=1e-3, atol=1e-4)
    print('ok ' if ok else 'BAD', 'SE plan without oneDNN maxerr %.3g' % float(np.abs(o[0] - o[1]).max())); bad += not ok
shutil.rmtree(d)
# 1-D (Conv1d) and an fc1 without activation
inits = []
w = (rng.standard_normal((20, 3, 3)) * 0.3).astype(np.float32); inits.append(init('cw1', w))
nodes = [h.make_node('Conv', ['x', 'cw1'], ['a'], pads=[1, 1])] + se_nodes('a', 'y', 20, 6, inits, act=None, rank=3)
m = model(nodes, inits, [('x', [2, 3, 50])], 'y')
if se_fused(m) != 1: print('BAD not fused: SE 1-D'); bad += 1
bad += not check('SE 1-D N=2 C=20 L=50', m, [rng.standard_normal((2, 3, 50)).astype(np.float32)])
# not a squeeze-excitation: the pooled value read twice, the Mul by another value
inits = []
nodes = [conv('x', 'a', 3, 16, inits)] + se_nodes('a', 'e', 16, 4, inits) + [h.make_node('Add', ['e', 'e_p'], ['y'])]
m = model(nodes, inits, [('x', [1, 3, 6, 6])], 'y')
if se_fused(m): print('BAD fused with the pooled value read twice'); bad += 1
bad += not check('SE pooled value read twice', m, [X(3)[:1]])
# many-input concat (> 16) as in DenseNet
inits = []
nodes = [conv('x', 'a', 3, 16, inits), h.make_node('Concat', ['a'] * 20 + ['x'], ['c'], axis=1), conv('c', 'y', 16 * 20 + 3, 5, inits)]
bad += not check('Concat 21 inputs', model(nodes, inits, [('x', [2, 3, 6, 6])], 'y'), [X(3)])
# LayerNormalization with only Y
for shape, axis, bias in (([2, 5, 8], -1, True), ([2, 5, 8], 1, False), ([3, 4, 2, 6], 2, True), ([3, 4, 2, 6], 0, True), ([7, 16], -1, True)):
    ns = shape[axis:]
    inits = [init('g', rng.standard_normal(ns).astype(np.float32)), init('bb', rng.standard_normal(ns).astype(np.float32))]
    nodes = [h.make_node('LayerNormalization', ['x', 'g', 'bb'] if bias else ['x', 'g'], ['y'], axis=axis, epsilon=1e-3)]
    bad += not check(f'LN {shape} axis {axis} bias {bias}', model(nodes, inits, [('x', shape)], 'y'), [rng.standard_normal(shape).astype(np.float32) * 3 + 1])
print('bad', bad)
sys.exit(1 if bad else 0)
