"""Out-of-kernel probes of unit 03 (Jacobians): see `integrity/__init__.py` and `grading.integrity`."""

from __future__ import annotations

import textwrap

import numpy as np

from calcml import checks, numdiff
from grading.integrity import Probe, close, require


def _softmax(z):
    e = np.exp(z - np.max(z))
    return e / e.sum()


def _layer(W, b, x):
    return np.tanh(W @ x + b)


def _network(params, x):
    for W, b in params:
        x = np.tanh(W @ x + b)
    return x


def _arrays(case, *keys):
    return [np.array(case[k], dtype=float) for k in keys]


# ------------------------------------------------------------------------------------------------- softmax_jacobian

def softmax_inputs(rng):
    random = [rng.normal(scale=float(rng.uniform(0.5, 4.0)), size=int(rng.integers(1, 11))) for _ in range(8)]
    shifted = [{"z": rng.normal(size=int(rng.integers(2, 7))), "shift": shift} for shift in (1000.0, -1000.0)]
    return {"random": random, "one": [float(rng.normal(scale=3))], "shifted": shifted,
            "saturated": [1000.0, 0.0, -1000.0], "untouched": (rng.normal(size=6) + 50.0).tolist()}


# The driver reports z as it is after the call (data); the grader compares it with the z it drew.
SOFTMAX_DRIVER = textwrap.dedent("""
    import numpy as np
    result = {"random": [softmax_jacobian(np.array(z)) for z in inputs["random"]],
              "one": softmax_jacobian(np.array(inputs["one"])),
              "shifted": [softmax_jacobian(np.array(c["z"]) + c["shift"]) for c in inputs["shifted"]],
              "saturated": softmax_jacobian(np.array(inputs["saturated"]))}
    z = np.array(inputs["untouched"])
    result["untouched_jacobian"] = softmax_jacobian(z)
    result["untouched"] = z.tolist()
""")

HINT_SOFTMAX = "J = diag(p) - p pᵀ, where p pᵀ is the n x n outer product np.outer(p, p), not the number p @ p."


def softmax_verify(inputs, result):
    require(isinstance(result, dict) and isinstance(result.get("random"), list)
            and len(result["random"]) == len(inputs["random"]), "softmax_jacobian gave too few results.")
    for z, got in zip(inputs["random"], result["random"], strict=True):
        z = np.array(z)
        close(got, numdiff.jacobian(_softmax, z), what="softmax Jacobian", where=checks.describe_point(z),
              hint=HINT_SOFTMAX)
    close(result.get("one"), np.zeros((1, 1)), what="softmax Jacobian", where="for one logit",
          hint="With a single class p = [1] for every z, so J = [[0]].")
    require(isinstance(result.get("shifted"), list) and len(result["shifted"]) == 2, "softmax_jacobian gave too few "
                                                                                     "results.")
    for case, got in zip(inputs["shifted"], result["shifted"], strict=True):
        close(got, numdiff.jacobian(_softmax, np.array(case["z"])), what="softmax Jacobian",
              where=f"at logits near {case['shift']:+g}",
              hint="exp(1000) overflows and exp(-1000) underflows to 0: subtract max(z) before exponentiating.")
    close(result.get("saturated"), np.zeros((3, 3)), what="softmax Jacobian", where="at z = [1000, 0, -1000]",
          hint=HINT_SOFTMAX)
    z = inputs["untouched"]
    after = result.get("untouched")
    require(isinstance(after, list) and len(after) == len(z)
            and all(type(a) is float and a == b for a, b in zip(after, z, strict=True)),
            "softmax_jacobian changed its argument z in place; compute z - max(z) as a new array.")
    close(result.get("untouched_jacobian"), numdiff.jacobian(_softmax, np.array(z)), what="softmax Jacobian",
          where="at logits near 50", hint=HINT_SOFTMAX)


# --------------------------------------------------------------------------------------------------- chain_jacobian

ACTIVATIONS = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)


def chain_inputs(rng):
    # the layer sizes of the hidden tests (one map, square, one input, one output, a bottleneck), then random ones
    chains = [[3, 3, 3, 3], [4, 2, 3], [2, 2], [5, 5, 5, 5, 5], [1, 3, 2], [6, 4, 3, 1], [3, 1, 4]]
    for _ in range(4):
        chains.append([int(d) for d in rng.integers(1, 7, size=int(rng.integers(2, 6)))])
    cases = []
    for dims in chains:
        layers = [{"W": rng.normal(size=(n_out, n_in)) / np.sqrt(n_in), "b": rng.normal(size=n_out)}
                  for n_in, n_out in zip(dims[:-1], dims[1:], strict=True)]
        cases.append({"dims": dims, "layers": layers, "x": rng.normal(size=dims[0])})
    return {"cases": cases}


CHAIN_DRIVER = textwrap.dedent("""
    import numpy as np
    ACTIVATIONS = (np.sin, np.tanh, lambda a: a + 0.3 * a**2)
    SLOPES = (np.cos, lambda a: 1 - np.tanh(a) ** 2, lambda a: 1 + 0.6 * a)

    def build(case):
        maps, jacobians = [], []
        for i, layer in enumerate(case["layers"]):
            W, b = np.array(layer["W"]), np.array(layer["b"])

            def check(h, i=i, W=W, what="maps"):
                h = np.asarray(h, dtype=float)
                if h.shape != (W.shape[1],):
                    raise ValueError(f"{what}[{i}] takes a vector of length {W.shape[1]}, but it was called at a "
                                     f"point of shape {h.shape}: evaluate each map and Jacobian at the input of "
                                     "its own map")
                return h

            maps.append(lambda h, i=i, W=W, b=b: ACTIVATIONS[i % 3](W @ check(h, i, W) + b))
            jacobians.append(lambda h, i=i, W=W, b=b: SLOPES[i % 3](W @ check(h, i, W, "jacobians") + b)[:, None] * W)
        return maps, jacobians

    result = []
    for case in inputs["cases"]:
        maps, jacobians = build(case)
        result.append(chain_jacobian(maps, jacobians, np.array(case["x"])))
""")


def chain_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "chain_jacobian gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        layers = [_arrays(layer, "W", "b") for layer in case["layers"]]

        def whole(x, layers=layers):
            for i, (W, b) in enumerate(layers):
                x = ACTIVATIONS[i % 3](W @ x + b)
            return x

        close(got, numdiff.jacobian(whole, np.array(case["x"])), what="Jacobian of the chain",
              where=f"with layer sizes {case['dims']}",
              hint="J = J_k(x_{k-1}) ... J_2(x_1) J_1(x_0): the Jacobian of the map applied last stands on the left, "
                   "and each J_i is evaluated at the point the chain has reached, not at x.")


# ---------------------------------------------------------------------------------------------------- tanh layers

def _layer_cases(rng, shapes):
    """Layers of the given shapes (the hidden tests'), three random ones, and a partly saturated one (W x 2.5)."""
    shapes = [*shapes, *((int(rng.integers(1, 9)), int(rng.integers(1, 9))) for _ in range(3)), (4, 4)]
    cases = []
    for k, (m, n) in enumerate(shapes):
        scale = 2.5 if k == len(shapes) - 1 else 1.0
        cases.append({"W": scale * rng.normal(size=(m, n)), "b": rng.normal(size=m), "x": rng.normal(size=n),
                      "v": rng.normal(size=n), "u": rng.normal(size=m)})
    return {"cases": cases}


def jvp_inputs(rng):
    return _layer_cases(rng, [(3, 3), (2, 4), (1, 5), (4, 1), (1, 1), (6, 3), (3, 7), (5, 2)])


JVP_DRIVER = textwrap.dedent("""
    import numpy as np
    result = [tanh_layer_jvp(*(np.array(c[k], dtype=float) for k in ("W", "b", "x", "v"))) for c in inputs["cases"]]
""")


def jvp_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "tanh_layer_jvp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        W, b, x, v = _arrays(case, "W", "b", "x", "v")
        close(got, numdiff.jacobian(lambda x_, W=W, b=b: _layer(W, b, x_), x) @ v, what="J v",
              where=f"for W of shape {W.shape}",
              hint="J v = (1 - y²) * (W v) with y = tanh(W x + b): first W v (not Wᵀ v), then multiply it "
                   "elementwise by tanh'(W x + b) = 1 - y².")


def vjp_inputs(rng):
    cases = _layer_cases(rng, [(3, 3), (3, 4), (1, 6), (5, 1), (1, 1), (2, 7), (6, 2), (4, 3)])
    n = 5  # one output and u = 1: u_x is the gradient of y itself
    cases["cases"].append({"W": rng.normal(size=(1, n)), "b": rng.normal(size=1), "x": rng.normal(size=n),
                           "v": rng.normal(size=n), "u": np.ones(1)})
    return cases


VJP_DRIVER = textwrap.dedent("""
    import numpy as np
    result = []
    for c in inputs["cases"]:
        u_x, u_W, u_b = tanh_layer_vjp(*(np.array(c[k], dtype=float) for k in ("W", "b", "x", "u")))
        result.append({"x": u_x, "W": u_W, "b": u_b})
""")

HINT_VJP = {
    "x": "u_x = Jᵀ u = Wᵀ (u * (1 - y²)): a VJP multiplies by the transpose, so Wᵀ, not W.",
    "W": "(u_W)_kl = g_k x_l with g = u * (1 - y²): the outer product of g (length m) and x (length n), in that order.",
    "b": "u_b = g = u * (1 - y²): the bias enters the tanh exactly as W x does.",
}


def vjp_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "tanh_layer_vjp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        W, b, x, u = _arrays(case, "W", "b", "x", "u")
        where = f"for W of shape {W.shape}"
        close(got.get("x"), numdiff.gradient(lambda x_, W=W, b=b, u=u: u @ _layer(W, b, x_), x), what="u_x",
              where=where, hint=HINT_VJP["x"])
        close(got.get("W"), numdiff.gradient(lambda W_, b=b, x=x, u=u: u @ _layer(W_, b, x), W), what="u_W",
              where=where, hint=HINT_VJP["W"])
        close(got.get("b"), numdiff.gradient(lambda b_, W=W, x=x, u=u: u @ _layer(W, b_, x), b), what="u_b",
              where=where, hint=HINT_VJP["b"])


# -------------------------------------------------------------------------------------------------- tanh_network_vjp

def network_inputs(rng):
    # the layer sizes of the hidden tests, then random ones
    chains = [[3, 4, 2], [3, 3, 3], [4, 4], [5, 3, 4, 1], [1, 2, 3, 2], [2, 6, 1, 5], [3, 3, 3, 3, 3], [1, 3, 2]]
    chains += [[int(d) for d in rng.integers(1, 6, size=int(rng.integers(2, 5)))] for _ in range(3)]
    cases = []
    for dims in chains:
        params = [{"W": rng.normal(size=(d_out, d_in)) / np.sqrt(d_in), "b": 0.5 * rng.normal(size=d_out)}
                  for d_in, d_out in zip(dims[:-1], dims[1:], strict=True)]
        cases.append({"dims": dims, "params": params, "x": rng.normal(size=dims[0]), "u": rng.normal(size=dims[-1])})
    return {"cases": cases}


NETWORK_DRIVER = textwrap.dedent("""
    import numpy as np
    result = []
    for c in inputs["cases"]:
        params = [(np.array(p["W"], dtype=float), np.array(p["b"], dtype=float)) for p in c["params"]]
        u_x, grads = tanh_network_vjp(params, np.array(c["x"], dtype=float), np.array(c["u"], dtype=float))
        result.append({"x": u_x, "grads": [[u_W, u_b] for u_W, u_b in grads]})
""")

HINT_NET = ("Run the forward pass first and keep each layer's INPUT; then call tanh_layer_vjp from the last layer "
            "back to the first, feeding each call the u_x returned by the layer above it, and return the parameter "
            "products first layer first.")


def network_verify(inputs, result):
    require(isinstance(result, list) and len(result) == len(inputs["cases"]), "tanh_network_vjp gave too few results.")
    for case, got in zip(inputs["cases"], result, strict=True):
        params = [tuple(_arrays(p, "W", "b")) for p in case["params"]]
        x, u = _arrays(case, "x", "u")
        where = f"for layer sizes {case['dims']}"
        close(got.get("x"), numdiff.gradient(lambda x_, params=params, u=u: u @ _network(params, x_), x), what="u_x",
              where=where, hint=HINT_NET)
        grads = got.get("grads")
        require(isinstance(grads, list) and len(grads) == len(params),
                f"grads {where} must hold one (u_W, u_b) per layer ({len(params)}).")
        for i, ((W, b), pair) in enumerate(zip(params, grads, strict=True)):
            require(isinstance(pair, list) and len(pair) == 2, f"grads[{i}] {where} must be a pair (u_W, u_b).")

            def with_W(W_, i=i, params=params, u=u, x=x):
                return u @ _network(params[:i] + [(W_, params[i][1])] + params[i + 1:], x)

            def with_b(b_, i=i, params=params, u=u, x=x):
                return u @ _network(params[:i] + [(params[i][0], b_)] + params[i + 1:], x)

            close(pair[0], numdiff.gradient(with_W, W), what=f"u_W of layer {i + 1} (grads[{i}][0])", where=where,
                  hint=HINT_NET)
            close(pair[1], numdiff.gradient(with_b, b), what=f"u_b of layer {i + 1} (grads[{i}][1])", where=where,
                  hint=HINT_NET)


PROBES = {
    "03_jacobians-softmax_jacobian": Probe(SOFTMAX_DRIVER, softmax_inputs, softmax_verify),
    "03_jacobians-chain_jacobian": Probe(CHAIN_DRIVER, chain_inputs, chain_verify),
    "03_jacobians-tanh_layer_jvp": Probe(JVP_DRIVER, jvp_inputs, jvp_verify),
    "03_jacobians-tanh_layer_vjp": Probe(VJP_DRIVER, vjp_inputs, vjp_verify),
    "03_jacobians-tanh_network_vjp": Probe(NETWORK_DRIVER, network_inputs, network_verify),
}
