"""From a Keras model to what ships, and what it costs there.

- `tflite`: conversion to each format (float, int8, sparse), in the stage's process or spawned ones;
- `tflite_weights`: a flatbuffer's weight tensors and their sparsity, read without running it;
- `tflite_runner`: one TFLite file run on images;
- `benchmark`: the interleaved latency benchmark (every variant once per round, in a random order);
- `int8_fold`: constant channels folded before full-integer conversion;
- `resolution`: the same model at another input side, and whether its head allows one;
- `compression`: the entropy bound of a sparse tensor (pure);
- `machine`: the machine a latency was measured on (stage machine);
- `pqat`: pruning-preserving quantization-aware training (stage pqat);
- `scoring`: one model and its two TFLite files scored as a point.

Reads `models`, `artifacts` and `config`; the pruners read it, never the reverse.
"""
