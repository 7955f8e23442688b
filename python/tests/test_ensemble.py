"""Ensembles (issue 4, EMPIR): swl_session_create_ensemble through Python and the CLI. Combined
scores are checked against a numpy re-implementation of each combiner, applied to the members'
scores from separate sessions; members given an encoding must equal the model compressed by
`swiftlet compress`; bad members, combiners and encodings are clear errors."""
from __future__ import annotations

import ctypes
import re
import subprocess

import numpy as np
import pytest

import swiftlet
from conftest import DATA, MODELS, assert_close, assert_exact, model_bytes, require_file
from swiftlet import _capi, swl

K, CLASSES = 5, 3


# ---- the reference: each combiner in numpy ---------------------------------------------------------
def combine_reference(members: list[np.ndarray], combiner: str) -> np.ndarray:
    """members: each [rows, classes]. Rules as include/swiftlet.h defines swl_combiner."""
    scores = np.stack(members).astype(np.float64)           # [members, rows, classes]
    out = np.zeros(scores.shape[1:], np.float64)
    for row in range(scores.shape[1]):
        s = scores[:, row]
        if np.isnan(s).any():
            out[row] = np.nan
            continue
        if combiner == "mean":
            with np.errstate(invalid="ignore", over="ignore"):
                e = np.exp(s - s.max(axis=1, keepdims=True))
                out[row] = (e / e.sum(axis=1, keepdims=True)).mean(axis=0)
            continue
        votes = np.bincount(s.argmax(axis=1), minlength=s.shape[1])
        tied = np.flatnonzero(votes == votes.max())
        winner = tied[0] if combiner == "vote" or len(tied) == 1 else tied[np.argmax(s[0, tied])]
        out[row, winner] = 1
    return out.astype(np.float32)


# ---- members -------------------------------------------------------------------------------------
def linear_member(w: np.ndarray, k: int = K) -> swiftlet.Model:
    """x [m, k] @ w [k, classes] -> y: a member whose scores the test controls."""
    data = model_bytes([swl.node("Linear", ["x", "w"], ["y"], name="fc")],
                       {"x": (np.float32, ["m", k])}, {"y": (np.float32, ["m", w.shape[1]])},
                       {"w": w.astype(np.float32)})
    return swiftlet.Model.from_bytes(data)


def small_integers(rng, *shape):
    """Values in {-1, 0, 1}: integer scores with many ties, within members and between votes."""
    return rng.integers(-1, 2, size=shape).astype(np.float32)


def alone(model: swiftlet.Model, x: np.ndarray) -> np.ndarray:
    with model.session(threads=1) as s:
        return s.run({"x": x})["y"]


def reference_outside_ties(members: list[np.ndarray]) -> int:
    """Rows where the vote is tied and member 0's own class is not among the tied."""
    votes = np.stack([m.argmax(1) for m in members])               # [members, rows]
    count = 0
    for row in range(votes.shape[1]):
        tally = np.bincount(votes[:, row])
        tied = np.flatnonzero(tally == tally.max())
        count += len(tied) > 1 and votes[0, row] not in tied
    return count


@pytest.mark.parametrize("n_members, classes", [(2, 3), (3, 3), (4, 3), (5, 6)])
@pytest.mark.parametrize("combiner", ["empir", "vote", "mean"])
def test_combiners_match_numpy(combiner, n_members, classes, rng):
    models = [linear_member(small_integers(rng, K, classes)) for _ in range(n_members)]
    x = small_integers(rng, 400, K)
    member_scores = [alone(m, x) for m in models]
    with swiftlet.ensemble(models, combiner, threads=1) as s:
        assert [o.name for o in s.outputs] == ["y"] + [f"y/member{i}" for i in range(n_members)]
        out = s.run({"x": x})
    for i, scores in enumerate(member_scores):
        assert_exact(out[f"y/member{i}"], scores, f"member {i}")
    expected = combine_reference(member_scores, combiner)
    if combiner == "mean":
        assert_close(out["y"], expected, rtol=1e-6, atol=1e-7)
    else:
        assert_exact(out["y"], expected, combiner)
    # The data must exercise the rules that tell the combiners apart.
    assert np.any(combine_reference(member_scores, "empir") != combine_reference(member_scores, "vote"))
    if n_members == 5:   # EMPIR's tie-break among classes member 0 did not vote for
        assert reference_outside_ties(member_scores) > 0


def test_other_outputs_come_from_the_reference_member(rng):
    def two_outputs(w):
        return swiftlet.Model.from_bytes(model_bytes(
            [swl.node("Linear", ["x", "w"], ["y"], name="fc"), swl.node("Relu", ["y"], ["z"], name="relu")],
            {"x": (np.float32, ["m", K])}, {"y": (np.float32, ["m", CLASSES]), "z": (np.float32, ["m", CLASSES])},
            {"w": w.astype(np.float32)}))
    models = [two_outputs(small_integers(rng, K, CLASSES)) for _ in range(3)]
    x = small_integers(rng, 50, K)
    with swiftlet.ensemble(models, "vote", threads=2) as s:
        assert [o.name for o in s.outputs] == ["y", "z", "y/member0", "y/member1", "y/member2"]
        out = s.run({"x": x})
        only_z = s.run({"x": x}, outputs=["z"])
    with models[0].session(threads=1) as first:
        expected = first.run({"x": x})
    assert_exact(out["z"], expected["z"], "z")
    assert_exact(only_z["z"], expected["z"], "z alone")
    assert_exact(out["y/member0"], expected["y"], "member 0")


@pytest.mark.parametrize("combiner", ["empir", "vote", "mean"])
def test_rows_with_a_nan_score_are_nan(combiner, rng):
    w = small_integers(rng, K, CLASSES)
    w_inf = w.copy()
    w_inf[0, 1] = np.inf                      # inf · 0 = NaN where x[:, 0] == 0; ±inf elsewhere
    models = [linear_member(w), linear_member(w_inf), linear_member(-w)]
    x = small_integers(rng, 60, K)
    x[:, 0] = np.where(np.arange(60) % 3 == 0, 0, np.where(np.arange(60) % 2 == 0, 1, -1))
    with swiftlet.ensemble(models, combiner, threads=1) as s:
        got = s.run({"x": x})["y"]
    expected = combine_reference([alone(m, x) for m in models], combiner)
    assert np.isnan(expected[::3]).all()
    assert_close(got, expected, rtol=1e-6, atol=1e-7)


# ---- one file at several precisions ---------------------------------------------------------------
@pytest.fixture(scope="module")
def digits():
    x = np.load(require_file(DATA / "digits_test_x.npy")).astype(np.float32)
    y = np.load(require_file(DATA / "digits_test_y.npy"))
    return x, y


def test_members_with_an_encoding_equal_the_compressed_model(cli, tmp_path, digits):
    x, _ = digits
    source = require_file(MODELS / "digits_mlp.swl")
    encodings = [None, "int8", "mxfp4", "mxfp8-e4m3"]
    alone_scores = []
    for encoding in encodings:
        path = source
        if encoding is not None:
            path = tmp_path / f"{encoding}.swl"
            subprocess.run([cli, "compress", str(source), str(path), "--quantize", encoding],
                           check=True, capture_output=True)
        with swiftlet.Model(str(path)) as m, m.session(threads=1) as s:
            alone_scores.append(s.run({"input": x})["logits"])
    with swiftlet.Model(str(source)) as m, \
            swiftlet.ensemble([(m, e) for e in encodings], "empir", threads=1) as s:
        out = s.run({"input": x})
    for i, scores in enumerate(alone_scores):
        assert_exact(out[f"logits/member{i}"], scores, f"member {i} ({encodings[i]})")
    assert_exact(out["logits"], combine_reference(alone_scores, "empir"), "empir")
    assert any(np.any(a.argmax(1) != alone_scores[0].argmax(1)) for a in alone_scores[1:]), \
        "the encodings changed no prediction: the test cannot tell members apart"


def test_parallel_members_equal_sequential_and_report_each_member(digits):
    x, _ = digits
    with swiftlet.Model(str(require_file(MODELS / "digits_cnn.swl"))) as m:
        members = [m, (m, "mxint8"), (m, "mxfp6-e2m3")]
        x4 = x.reshape(-1, 1, 8, 8)
        with swiftlet.ensemble(members, "mean", threads=1) as s1, \
                swiftlet.ensemble(members, "mean", threads=2) as s2:
            sequential, report = s1.run({"input": x4}, report=True)
            parallel = s2.run({"input": x4})
        with m.session(threads=1) as alone_session:
            _, alone_report = alone_session.run({"input": x4}, report=True)
    for name in sequential:
        assert_exact(parallel[name], sequential[name], name)
    assert len(report.member_wall_time_ms) == 3 and all(t > 0 for t in report.member_wall_time_ms)
    assert report.wall_time_ms >= sum(report.member_wall_time_ms)
    assert report.flops > alone_report.flops and report.node_count >= 3 * alone_report.node_count
    assert alone_report.member_wall_time_ms == ()


def test_cli_prints_each_member_and_the_ensemble(cli, tmp_path, digits):
    x, y = digits
    source = str(require_file(MODELS / "digits_mlp.swl"))
    out_path = tmp_path / "combined.npy"
    result = subprocess.run([cli, "ensemble", source, f"{source}@int8", f"{source}@mxfp4",
                             "--input", str(DATA / "digits_test_x.npy"),
                             "--labels", str(DATA / "digits_test_y.npy"),
                             "--output", str(out_path), "--threads", "1", "--runs", "3"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    with swiftlet.Model(source) as m, \
            swiftlet.ensemble([m, (m, "int8"), (m, "mxfp4")], "empir", threads=1) as s:
        out = s.run({"input": x})
    assert_exact(np.load(out_path), out["logits"], "--output")
    printed = re.findall(r"^(\S+)\s.*?(\d+\.\d\d)%", result.stdout, re.MULTILINE)
    expected = [(str(i), 100 * np.mean(out[f"logits/member{i}"].argmax(1) == y)) for i in range(3)]
    expected.append(("all", 100 * np.mean(out["logits"].argmax(1) == y)))
    assert [(who, float(acc)) for who, acc in printed] == [(w, round(a, 2)) for w, a in expected]
    assert re.search(r"median of 3 alternating runs: members .* cost \d+\.\d\d×", result.stdout)


# ---- bad input --------------------------------------------------------------------------------------
def status_of(excinfo) -> str:
    return excinfo.value.status_name


def test_member_count_outside_2_to_16_is_refused(rng):
    m = linear_member(small_integers(rng, K, CLASSES))
    for members in ([m], [m] * 17):
        with pytest.raises(swiftlet.SwiftletError, match="2 to 16") as e:
            swiftlet.ensemble(members)
        assert status_of(e) == "SWL_STATUS_INVALID_ARGUMENT"


def test_unknown_combiner_and_encoding_are_refused(rng):
    m = linear_member(small_integers(rng, K, CLASSES))
    with pytest.raises(ValueError, match="combiner"):
        swiftlet.ensemble([m, m], "median")
    with pytest.raises(swiftlet.SwiftletError, match=r"members\[1\]\.encoding: unknown format 'int4'") as e:
        swiftlet.ensemble([m, (m, "int4")])
    assert status_of(e) == "SWL_STATUS_INVALID_ARGUMENT"
    members = (_capi.EnsembleMember * 2)(_capi.EnsembleMember(m._handle, None),
                                         _capi.EnsembleMember(m._handle, None))
    session = ctypes.c_void_p(1)
    lib = _capi.lib()
    assert lib.swl_session_create_ensemble(members, 2, 7, None, ctypes.byref(session)) == \
        _capi.STATUS_INVALID_ARGUMENT
    assert session.value is None and "combiner 7" in _capi.last_error()


def test_null_and_dead_handles_are_refused(rng):
    m = linear_member(small_integers(rng, K, CLASSES))
    lib = _capi.lib()
    session = ctypes.c_void_p()
    assert lib.swl_session_create_ensemble(None, 2, 3, None, ctypes.byref(session)) == \
        _capi.STATUS_INVALID_ARGUMENT
    assert "members is NULL" in _capi.last_error()
    members = (_capi.EnsembleMember * 2)(_capi.EnsembleMember(m._handle, None),
                                         _capi.EnsembleMember(None, b"int8"))
    assert lib.swl_session_create_ensemble(members, 2, 3, None, ctypes.byref(session)) == \
        _capi.STATUS_INVALID_ARGUMENT
    assert "members[1].model is NULL" in _capi.last_error()
    assert lib.swl_session_create_ensemble(members, 2, 3, None, None) == _capi.STATUS_INVALID_ARGUMENT
    closed = linear_member(small_integers(rng, K, CLASSES))
    closed.close()
    with pytest.raises(ValueError, match="closed"):
        swiftlet.ensemble([m, closed])
    with pytest.raises(TypeError, match=r"members\[1\]"):
        swiftlet.ensemble([m, "models/digits_mlp.swl"])


def test_members_that_answer_different_questions_are_refused(rng):
    m = linear_member(small_integers(rng, K, CLASSES))
    wider_input = linear_member(small_integers(rng, K + 1, CLASSES), k=K + 1)
    more_classes = linear_member(small_integers(rng, K, CLASSES + 1))
    for other, what in [(wider_input, "member 1's inputs"), (more_classes, "member 1's first output")]:
        with pytest.raises(swiftlet.SwiftletError, match=what) as e:
            swiftlet.ensemble([m, other])
        assert status_of(e) == "SWL_STATUS_INVALID_ARGUMENT"
    shape_first = swiftlet.Model.from_bytes(model_bytes(
        [swl.node("Shape", ["x"], ["s"], name="shape")],
        {"x": (np.float32, ["m", K])}, {"s": (np.int64, [2])}))
    with pytest.raises(swiftlet.SwiftletError, match="must be F32 class scores") as e:
        swiftlet.ensemble([shape_first, shape_first])
    assert status_of(e) == "SWL_STATUS_INVALID_ARGUMENT"


def test_wrong_input_at_run_is_a_clear_error(rng):
    m = linear_member(small_integers(rng, K, CLASSES))
    with swiftlet.ensemble([m, m]) as s:
        with pytest.raises(swiftlet.SwiftletError, match="'x'") as e:
            s.run({"x": np.zeros((4, K + 2), np.float32)})
        assert status_of(e) == "SWL_STATUS_INVALID_ARGUMENT"
        with pytest.raises(swiftlet.SwiftletError, match="no input named 'z'"):
            s.run({"z": np.zeros((4, K), np.float32)})


@pytest.mark.parametrize("flags, message", [
    (["--combiner", "median"], "--combiner must be one of"),
    (["--labels", "LABELS_WRONG"], "has 3 labels, the scores have 360 rows"),
    (["--runs=-1"], "--runs must be"),
])
def test_cli_refuses_bad_arguments(cli, tmp_path, flags, message):
    source = str(require_file(MODELS / "digits_mlp.swl"))
    labels = tmp_path / "labels.npy"
    np.save(labels, np.array([1, 2, 3]))
    flags = [str(labels) if f == "LABELS_WRONG" else f for f in flags]
    result = subprocess.run([cli, "ensemble", source, f"{source}@int8",
                             "--input", str(DATA / "digits_test_x.npy"), *flags],
                            capture_output=True, text=True)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    single = subprocess.run([cli, "ensemble", source, "--input", str(DATA / "digits_test_x.npy")],
                            capture_output=True, text=True)
    assert single.returncode != 0 and "2 to 16 members" in single.stderr
