// A bundle inside every cap that the threaded module's 2 GiB cannot load (hostile round 8): a
// ResNet-152 encoder at the widest `width_multiplier` (2.0) and a decoder of 2,048 units over
// 39,000 words, stored int8 (one byte a weight, an F16 scale per output channel): 490 MB on
// disk, about 2 GB of f32 weights once loaded. Written sparse: its weights are zeros, and only
// the scales and BatchNorm's ones take disk space.

import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";

const LAYERS = [3, 8, 36, 3];
const WIDTH = 2.0;
const VOCAB = 39_000;
const DIM = 2048;
const F16_ONE = 0x3c00;

/** name → { dtype, shape, fill }: every tensor of the model (fill: the F16 value of every element). */
function tensors() {
  const all = new Map();
  const weight = (name, shape) => {
    all.set(name, { dtype: "I8", shape, fill: 0 });
    all.set(`${name}_scale`, { dtype: "F16", shape: [shape[0]], fill: F16_ONE });
  };
  const vector = (name, n, fill = 0) => all.set(name, { dtype: "F16", shape: [n], fill });
  const batchNorm = (prefix, channels) => {
    vector(`${prefix}.weight`, channels, F16_ONE);
    vector(`${prefix}.bias`, channels);
    vector(`${prefix}.running_mean`, channels);
    vector(`${prefix}.running_var`, channels, F16_ONE);
  };
  const base = 64 * WIDTH;
  weight("encoder.conv1.weight", [base, 3, 7, 7]);
  batchNorm("encoder.bn1", base);
  let input = base;
  LAYERS.forEach((count, stage) => {
    const planes = base * 2 ** stage;
    for (let block = 0; block < count; block++) {
      const prefix = `encoder.layer${stage + 1}.${block}.`;
      weight(`${prefix}conv1.weight`, [planes, input, 1, 1]);
      batchNorm(`${prefix}bn1`, planes);
      weight(`${prefix}conv2.weight`, [planes, planes, 3, 3]);
      batchNorm(`${prefix}bn2`, planes);
      weight(`${prefix}conv3.weight`, [planes * 4, planes, 1, 1]);
      batchNorm(`${prefix}bn3`, planes * 4);
      if (block === 0) {
        weight(`${prefix}downsample.0.weight`, [planes * 4, input, 1, 1]);
        batchNorm(`${prefix}downsample.1`, planes * 4);
      }
      input = planes * 4;
    }
  });
  const linear = (name, rows, columns) => {
    weight(`${name}.weight`, [rows, columns]);
    vector(`${name}.bias`, rows);
  };
  weight("decoder.embedding.weight", [VOCAB, DIM]);
  linear("decoder.fcn", VOCAB, DIM);
  weight("decoder.lstm_cell.weight_ih", [4 * DIM, DIM + input]);
  vector("decoder.lstm_cell.bias_ih", 4 * DIM);
  weight("decoder.lstm_cell.weight_hh", [4 * DIM, DIM]);
  vector("decoder.lstm_cell.bias_hh", 4 * DIM);
  linear("decoder.attention.U", DIM, input);
  linear("decoder.attention.W", DIM, DIM);
  linear("decoder.attention.A", 1, DIM);
  linear("decoder.init_h", DIM, input);
  linear("decoder.init_c", DIM, input);
  return new Map([...all].sort(([a], [b]) => (a < b ? -1 : 1)));
}

function metadata() {
  const config = {
    version: 1,
    encoder: { arch: "resnet152", width_multiplier: WIDTH, pooled_grid: null },
    attention: { dim: DIM, activation: "tanh", gate: false },
    decoder: { vocab_size: VOCAB, embed_dim: DIM, hidden_dim: DIM, dropout: 0.0 },
    preprocess: { size: [224, 224], mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], max_pixels: 50_000_000 },
  };
  const vocab = ["<PAD>", "<SOS>", "<EOS>", "<UNK>", ...Array.from({ length: VOCAB - 4 }, (_, i) => `w${i}`)];
  return {
    format: "pt",
    "glimpse.config": JSON.stringify(config),
    "glimpse.vocab": JSON.stringify(vocab),
    "glimpse.card": JSON.stringify({ name: "large", description: "every size within the caps", decoder_trained: true }),
  };
}

/** The bytes its weights take once loaded, every I8 and F16 value widened to an f32 (the int8
 * scales are consumed). */
export function largeBundleWeightsAsF32() {
  const all = tensors();
  const isScale = (name) => name.endsWith("_scale") && all.get(name.slice(0, -"_scale".length))?.dtype === "I8";
  let values = 0;
  for (const [name, { shape }] of all) if (!isScale(name)) values += shape.reduce((a, b) => a * b, 1);
  return 4 * values;
}

/** Writes the bundle to `file`; returns its size in bytes. */
export function writeLargeBundle(file) {
  const header = { __metadata__: metadata() };
  const regions = [];
  let offset = 0;
  for (const [name, { dtype, shape, fill }] of tensors()) {
    const bytes = shape.reduce((a, b) => a * b, 1) * (dtype === "F16" ? 2 : 1);
    header[name] = { dtype, shape, data_offsets: [offset, offset + bytes] };
    if (fill) regions.push({ offset, elements: bytes / 2, fill });
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header));
  json = Buffer.concat([json, Buffer.alloc((8 - (json.length % 8)) % 8, " ")]);
  const start = 8 + json.length;
  const fd = openSync(file, "w");
  try {
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, length, 0, 8, 0);
    writeSync(fd, json, 0, json.length, 8);
    for (const { offset: at, elements, fill } of regions) {
      const values = Buffer.alloc(elements * 2);
      for (let i = 0; i < elements; i++) values.writeUInt16LE(fill, 2 * i);
      writeSync(fd, values, 0, values.length, start + at);
    }
    ftruncateSync(fd, start + offset);
  } finally {
    closeSync(fd);
  }
  return start + offset;
}
