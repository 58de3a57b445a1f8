/**
 * TFLite → transformers checkpoint, in memory (no Node APIs: runs in a browser too). Recognises
 * Google's MobileNetV2 classifiers and DeepLabV3 + MobileNetV2 segmenters, derives and verifies the
 * config from the file, converts the weights, picks the labels and records the quantization.
 * The Node side (convert_node.ts) writes the result as a checkpoint folder.
 */
import type { MobileNetV2Config } from '../../config/configuration_mobilenet_v2.js';
import type { StateDict } from '../../model/loading.js';
import { jsonFile, pretrainedFiles, type SaveOptions } from '../../model/saving.js';
import { QUANTIZATION_METADATA_KEY, type QuantizationRecord } from '../../quantization/record.js';
import { recogniseGraph, type MobileNetV2Graph } from './graph.js';
import { inferConfig } from './infer_config.js';
import { IMAGENET_LABELS } from './labels/imagenet.js';
import { PASCAL_VOC_LABELS } from './labels/pascal_voc.js';
import { quantizationRecord } from './quantization.js';
import { readTflite, type TfliteModel } from './reader.js';
import { convertWeights } from './weights.js';

/** A converted model, ready to be saved as a transformers checkpoint. */
export interface TfliteImport {
  /** The inferred config (`architectures` names the model class). */
  readonly config: MobileNetV2Config;
  /** Every key of the model class's `state_dict()`: float32 weights, int64 `num_batches_tracked`. */
  readonly stateDict: StateDict;
  /** `preprocessor_config.json` as transformers' conversion script writes it for this input size. */
  readonly preprocessorConfig: Record<string, unknown>;
  /** The file's quantization under transformers' names; undefined for a float model. */
  readonly quantization: QuantizationRecord | undefined;
  /** Keys the file has no values for, freshly initialised (DeepLab's unused `conv_1x1`). */
  readonly initialisedKeys: readonly string[];
  /** One paragraph saying what was found and converted. */
  readonly description: string;
}

/** `preprocessor_config.json` of transformers' conversion script: resize to size + 32, crop to size. */
export function conversionPreprocessorConfig(imageSize: number): Record<string, unknown> {
  return {
    crop_size: { height: imageSize, width: imageSize },
    do_center_crop: true,
    do_normalize: true,
    do_rescale: true,
    do_resize: true,
    image_mean: [0.5, 0.5, 0.5],
    image_processor_type: 'MobileNetV2ImageProcessor',
    image_std: [0.5, 0.5, 0.5],
    resample: 2,
    rescale_factor: 1 / 255,
    size: { shortest_edge: imageSize + 32 },
  };
}

/** Labels for `count` classes: a label file embedded in the model if one fits, else the dataset's. */
function chooseLabels(model: TfliteModel, graph: MobileNetV2Graph, count: number): { id2label: Record<number, string>; from: string } {
  for (const [name, bytes] of model.associatedFiles) {
    const lines = new TextDecoder().decode(bytes).split(/\r?\n/).filter((l) => l.trim() !== '');
    if (name.endsWith('.txt') && lines.length === count) return { id2label: { ...lines }, from: `the embedded ${name}` };
  }
  if (count === IMAGENET_LABELS.length && graph.task === 'classification') return { id2label: { ...IMAGENET_LABELS }, from: 'ImageNet' };
  if (count === PASCAL_VOC_LABELS.length && graph.task === 'segmentation') return { id2label: { ...PASCAL_VOC_LABELS }, from: 'PASCAL VOC' };
  return { id2label: Object.fromEntries(Array.from({ length: count }, (_, i) => [i, `LABEL_${i}`])), from: 'placeholders (no label list fits)' };
}

function quantizationSummary(graph: MobileNetV2Graph): string {
  const weight = graph.convs.get('conv_stem.first_conv')!.weight;
  if (!weight.quantization || weight.type === 'FLOAT32') return `${weight.type.toLowerCase()} weights`;
  return `${weight.type.toLowerCase()} ${weight.quantization.scale.length > 1 ? 'per-channel' : 'per-tensor'} weights (dequantized; scales in the quantization record)`;
}

/**
 * Converts a `.tflite` file's bytes. `source` names the file in messages and in the quantization record.
 *
 * @throws MobileNetV2Error when the bytes are not a (complete) TFLite file, or the model is not one
 *   of the supported MobileNetV2 graphs ("unsupported model: …" says what was found).
 */
export function importTflite(bytes: Uint8Array, source: string): TfliteImport {
  const model = readTflite(bytes, source);
  const graph = recogniseGraph(model, source);
  const classifier = graph.convs.get(graph.task === 'segmentation' ? 'segmentation_head.classifier' : 'classifier')!;
  const labels = chooseLabels(model, graph, classifier.weight.shape[0]!);
  const config = inferConfig(graph, labels.id2label, source);
  const { stateDict, initialisedKeys } = convertWeights(graph, config, source);
  const quantization = quantizationRecord(graph, source);
  const [, h, w] = graph.input.shape;
  const description =
    `${source}: ${config.architectures![0]} (${graph.scheme} layer names), depth multiplier ${config.depthMultiplier}` +
    `${config.depthDivisibleBy !== 8 ? ` (channels divisible by ${config.depthDivisibleBy})` : ''}, output stride ${config.outputStride}, ` +
    `${h}×${w} input, ${config.numLabels} labels from ${labels.from}, ${quantizationSummary(graph)}` +
    (initialisedKeys.length ? `; conv_1x1 is absent from the file (unused by segmentation) and left out of the checkpoint` : '');
  return {
    config, stateDict, preprocessorConfig: conversionPreprocessorConfig(config.imageSize), quantization, initialisedKeys, description,
  };
}

/**
 * The checkpoint folder's files: `config.json`, `model.safetensors` (with the quantization record in
 * its metadata; float32, or float16 with `{ dtype: 'float16' }`) and `preprocessor_config.json`,
 * formatted as transformers' `save_pretrained` writes them.
 */
export function checkpointFiles(converted: TfliteImport, options: SaveOptions = {}): Record<string, Uint8Array> {
  const metadata: Record<string, string> = { format: 'pt' };
  if (converted.quantization) metadata[QUANTIZATION_METADATA_KEY] = JSON.stringify(converted.quantization);
  // DeepLab files have no conv_1x1: store only what the file had, not 0.8 MB of random init.
  const stored = new Map([...converted.stateDict].filter(([key]) => !converted.initialisedKeys.includes(key)));
  return {
    ...pretrainedFiles(converted.config, stored, metadata, options),
    'preprocessor_config.json': jsonFile(converted.preprocessorConfig),
  };
}
