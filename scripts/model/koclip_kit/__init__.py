"""KoCLIP model kit: synthetic data, tokenizer, training, ONNX export, evaluation, packaging."""
