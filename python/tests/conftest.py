"""Shared fixtures and helpers of the Python tests.

Run from the repository root:
    SWIFTLET_LIB=build/prefix/lib/libswiftlet.so.1 SWIFTLET_CLI=.build/release/swiftlet \
        .venv/bin/python -m pytest -q python/tests
"""
from __future__ import annotations

import json
import os
import pathlib
import sys
import zlib
from typing import Any, Dict, Mapping, Optional, Sequence

import numpy as np
import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "python"))

import swiftlet  # noqa: E402
from swiftlet import swl  # noqa: E402

MODELS = REPO / "models"
DATA = REPO / "data"

# The backends every op is checked on. "reference" is the obviously-correct implementation,
# "cpu" the fast one; both must match numpy.
BACKENDS = ["reference", "cpu"]

_DTYPE_NAMES = {np.dtype(np.float32): "F32", np.dtype(np.int32): "I32",
                np.dtype(np.int64): "I64", np.dtype(np.float16): "F16", np.dtype(np.int8): "I8"}


def dtype_name(dtype) -> str:
    return _DTYPE_NAMES[np.dtype(dtype)]


# ---- fixtures -------------------------------------------------------------------------------------
@pytest.fixture(params=BACKENDS)
def backend(request) -> str:
    return request.param


@pytest.fixture(params=[True, False], ids=["opt", "noopt"])
def optimize(request) -> bool:
    return request.param


@pytest.fixture
def rng(request) -> np.random.Generator:
    """A generator seeded from the test's id: reproducible, different per test."""
    return np.random.default_rng(zlib.crc32(request.node.nodeid.encode()))


def require_file(path: pathlib.Path) -> pathlib.Path:
    if not path.exists():
        pytest.fail(f"{path.relative_to(REPO)} is missing (it is made by tools/train_digits.py, "
                    "`make models`)")
    return path


@pytest.fixture(scope="session")
def cli() -> str:
    path = os.path.abspath(os.environ.get("SWIFTLET_CLI") or REPO / ".build" / "release" / "swiftlet")
    if not os.path.exists(path):
        pytest.fail(f"the swiftlet CLI is not at {path} (set SWIFTLET_CLI or build it)")
    return path


# ---- building and running models ------------------------------------------------------------------
def graph_nodes(path) -> Dict[str, Dict[str, Any]]:
    """Node name → node (op, inputs, outputs, attrs) of a .swl file's graph."""
    from safetensors import safe_open
    with safe_open(str(path), "np") as f:
        graph = json.loads(f.metadata()["graph"])
    return {node["name"]: node for node in graph["nodes"]}


def model_bytes(nodes: Sequence[Mapping[str, Any]], inputs: Mapping[str, Any],
                outputs: Mapping[str, Any], consts: Optional[Mapping[str, np.ndarray]] = None,
                metadata: Optional[Mapping[str, str]] = None) -> bytes:
    """A .swl model. inputs/outputs map a name to an example array (its dtype and shape are
    declared) or to a (dtype, shape) pair whose shape may hold symbol strings."""
    def info(name, spec):
        if isinstance(spec, tuple) and len(spec) == 2 and not isinstance(spec[0], np.ndarray):
            dtype, shape = spec
        else:
            arr = np.asarray(spec)
            dtype, shape = arr.dtype, arr.shape
        return swl.value_info(name, dtype_name(dtype), list(shape))

    return swl.model_bytes(inputs=[info(n, s) for n, s in inputs.items()],
                           outputs=[info(n, s) for n, s in outputs.items()],
                           nodes=list(nodes), tensors=dict(consts or {}), metadata=metadata)


def run_bytes(data: bytes, feeds, backend: str, optimize: Optional[bool] = None,
              report: bool = False, threads: int = 1):
    with swiftlet.Model.from_bytes(data) as m, \
            m.session(backend=backend, threads=threads, optimize=optimize) as s:
        return s.run(feeds, report=report)


def conv_model(X: np.ndarray, Wt: np.ndarray, B: Optional[np.ndarray], expected: np.ndarray, *, w_input: bool,
               fused: Optional[str] = None, **attrs: Any):
    """Conv(X, W[, B]), then a "relu" or a "clip" (0, 6) when `fused` names one, as a model whose
    output Y is declared like `expected` (float32): W a graph input with `w_input` (the kernels
    that read it in place), else a constant (the ones that pack it). Returns the model's bytes and
    the inputs to run it on."""
    nodes = [swl.node("Conv", ["X", "W"] + (["B"] if B is not None else []), ["C" if fused else "Y"], name="conv",
                      **attrs)]
    if fused == "relu":
        nodes.append(swl.node("Relu", ["C"], ["Y"], name="relu"))
    elif fused == "clip":
        nodes.append(swl.node("Clip", ["C"], ["Y"], name="clip", min=0.0, max=6.0))
    inputs = {"X": X, **({"W": Wt} if w_input else {})}
    consts = {**({} if w_input else {"W": Wt}), **({"B": B} if B is not None else {})}
    return model_bytes(nodes, inputs, {"Y": expected.astype(np.float32)}, consts), inputs


def run_op(op: str, feeds: Mapping[str, np.ndarray], expected: Mapping[str, np.ndarray], *,
           backend: str, optimize: Optional[bool] = None,
           consts: Optional[Mapping[str, np.ndarray]] = None,
           node_inputs: Optional[Sequence[str]] = None,
           input_decls: Optional[Mapping[str, Any]] = None,
           output_decls: Optional[Mapping[str, Any]] = None,
           **attrs: Any) -> Dict[str, np.ndarray]:
    """Builds a one-node model running `op` and runs it.

    feeds: graph inputs (name -> array); consts: tensors stored in the file; node_inputs: the
    node's input list (default: feeds then consts, in order); expected: output name -> reference
    array, used for the outputs' declared dtype and shape (override with output_decls);
    input_decls overrides declared input shapes (e.g. dynamic symbols)."""
    consts = dict(consts or {})
    if node_inputs is None:
        node_inputs = list(feeds) + list(consts)
    decl_in = {n: (np.asarray(a).dtype, np.asarray(a).shape) for n, a in feeds.items()}
    decl_in.update(input_decls or {})
    decl_out = {n: (np.asarray(a).dtype if np.asarray(a).dtype != np.float64 else np.float32,
                    np.asarray(a).shape) for n, a in expected.items()}
    decl_out.update(output_decls or {})
    data = model_bytes([swl.node(op, node_inputs, list(expected), name="node0", **attrs)],
                       decl_in, decl_out, consts)
    return run_bytes(data, dict(feeds), backend, optimize)


# ---- comparisons ----------------------------------------------------------------------------------
def _where(mask: np.ndarray) -> str:
    idx = np.argwhere(mask)
    return f"{len(idx)} element(s), first at index {tuple(int(i) for i in idx[0])}"


def assert_exact(got: np.ndarray, ref: np.ndarray, what: str = "") -> None:
    """Bitwise-equal values, same shape and dtype (data movement, Relu, Clip, MaxPool...)."""
    ref = np.asarray(ref)
    assert got.shape == ref.shape, f"{what} shape {got.shape}, expected {ref.shape}"
    assert got.dtype == ref.dtype, f"{what} dtype {got.dtype}, expected {ref.dtype}"
    if not np.array_equal(got, ref, equal_nan=got.dtype.kind == "f"):
        bad = ~((got == ref) | (np.isnan(got) & np.isnan(ref)) if got.dtype.kind == "f"
                else (got == ref))
        i = tuple(np.argwhere(bad)[0])
        raise AssertionError(f"{what} differs in {_where(bad)}: got {got[i]!r}, "
                             f"expected {ref[i]!r}")


def assert_close(got: np.ndarray, ref: np.ndarray, rtol: float = 1e-5,
                 atol: Any = 0.0, what: str = "") -> None:
    """|got − ref| ≤ rtol·|ref| + atol elementwise; ref in float64; got must be float32.

    atol may be an array (a per-element bound), which is how the reduction tests pass their
    error bound 1e-5·(|A|·|B|)."""
    ref = np.asarray(ref, np.float64)
    assert got.shape == ref.shape, f"{what} shape {got.shape}, expected {ref.shape}"
    assert got.dtype == np.float32, f"{what} dtype {got.dtype}, expected float32"
    g = got.astype(np.float64)
    assert not np.any(np.isnan(g) != np.isnan(ref)), f"{what} NaN pattern differs"
    finite = np.isfinite(ref)
    assert np.array_equal(g[~finite], ref[~finite], equal_nan=True), f"{what} infinities differ"
    err = np.abs(g - ref)
    bound = rtol * np.abs(ref) + np.broadcast_to(np.asarray(atol, np.float64), ref.shape)
    bad = finite & ~(err <= bound)
    if np.any(bad):
        i = tuple(np.argwhere(bad)[0])
        worst = np.max(np.where(finite, err / np.maximum(bound, 1e-300), 0))
        raise AssertionError(f"{what} out of tolerance in {_where(bad)}: got {g[i]!r}, expected "
                             f"{ref[i]!r} (error {err[i]:.3g}, bound {bound[i]:.3g}; worst "
                             f"error/bound {worst:.3g})")


def assert_reduction_close(got: np.ndarray, ref: np.ndarray, abs_ref: np.ndarray,
                           coef: float = 1e-5, what: str = "") -> None:
    """For sums of products (MatMul, Gemm, Conv, pooling, normalization).

    fp32 accumulation of Σ aᵢbᵢ in any order errs by at most γₙ·Σ|aᵢbᵢ| (γₙ ≈ n·2⁻²⁴), so the
    meaningful bound is on the sum of absolute products, not on the (possibly cancelling) result.
    We allow 1e-5·Σ|aᵢbᵢ|: for the sizes used (n ≤ ~600) the worst case is ~3.6e-5 but realistic
    errors (random signs: ~√n·2⁻²⁴) are well below 1e-5; a wrong index or a dropped term is off
    by whole products, far outside it."""
    assert_close(got, ref, rtol=0.0, atol=coef * np.asarray(abs_ref, np.float64), what=what)


def randn(rng: np.random.Generator, *shape: int, scale: float = 1.0) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape) * scale, dtype=np.float32)  # 0-d stays an array


# ---- a small model for API tests ------------------------------------------------------------------
SMALL_W = np.arange(12, dtype=np.float32).reshape(3, 4) / 10 - 0.5
SMALL_B = np.array([0.5, -1.0, 0.25], np.float32)


def small_model() -> bytes:
    """x [batch, 4] F32 → y = x·Wᵀ + b [batch, 3], r = relu(y) [batch, 3]."""
    nodes = [swl.node("Gemm", ["x", "W", "b"], ["y"], transB=1),
             swl.node("Relu", ["y"], ["r"])]
    return model_bytes(nodes, {"x": (np.float32, ("batch", 4))},
                       {"y": (np.float32, ("batch", 3)), "r": (np.float32, ("batch", 3))},
                       {"W": SMALL_W, "b": SMALL_B}, metadata={"model.name": "small"})


def small_expected(x: np.ndarray) -> Dict[str, np.ndarray]:
    y = x.astype(np.float64) @ SMALL_W.T.astype(np.float64) + SMALL_B
    return {"y": y, "r": np.maximum(y, 0)}


@pytest.fixture
def small_bytes() -> bytes:
    return small_model()


@pytest.fixture
def small_path(tmp_path) -> pathlib.Path:
    path = tmp_path / "small.swl"
    path.write_bytes(small_model())
    return path
