/**
 * Google's MobileNetV2 / DeepLabV3 TFLite releases, converted and run by this library, against an
 * independent TFLite runtime's outputs (Arm NN) and Google's own published expectations.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import '../src/node/setup.js';
import { softmaxRows } from '../src/model/functional.js';
import {
  MobileNetV2ForImageClassification, MobileNetV2ForSemanticSegmentation, type AnyMobileNetV2Model,
} from '../src/model/modeling_mobilenet_v2.js';
import { postProcessSemanticSegmentation } from '../src/model/post_processing.js';
import { loadImage, loadSegmentationMap } from '../src/processing/image_io_node.js';
import { MobileNetV2ImageProcessor } from '../src/processing/processor.js';
import type { Float32Tensor } from '../src/tensor.js';
import { importTflite } from '../src/convert/tflite/importer.js';
import { assertClose, REAL_FIXTURES, requireFixtures } from './helpers.js';

const fixture = (...parts: string[]): string => join(REAL_FIXTURES, ...parts);
const models: AnyMobileNetV2Model[] = [];
after(async () => {
  for (const m of models) await m.dispose();
});

/** Converts a TFLite release and loads it as the model class the importer chose. */
function load(name: string): { model: AnyMobileNetV2Model; processor: MobileNetV2ImageProcessor } {
  const r = importTflite(new Uint8Array(readFileSync(fixture('models', `${name}.tflite`))), `${name}.tflite`);
  const Class = r.config.architectures![0] === 'MobileNetV2ForSemanticSegmentation' ? MobileNetV2ForSemanticSegmentation : MobileNetV2ForImageClassification;
  const model = Class.fromStateDict(r.config, r.stateDict);
  models.push(model);
  return { model, processor: MobileNetV2ImageProcessor.fromConfig(r.preprocessorConfig) };
}

/** Already-sized inputs: only rescale and normalise, `(x/255 − 0.5)/0.5`. */
const NO_RESIZE = { doResize: false, doCenterCrop: false };

async function probabilities(model: AnyMobileNetV2Model, pixelValues: Float32Tensor): Promise<Float32Array> {
  const { logits } = await model.forward(pixelValues);
  return softmaxRows(logits!.data, logits!.shape[1]!);
}

const argmax = (p: Float32Array): number => p.indexOf(Math.max(...p));

describe('converted TFLite models on real photos', requireFixtures(REAL_FIXTURES), () => {
  it('float DeepLabV3 257 reproduces the reference 33×33×21 logits', async () => {
    const { model, processor } = load('deeplabv3_257_mv_gpu');
    for (const name of ['bird_segmentation', 'cat']) {
      const { pixelValues } = processor.preprocess(await loadImage(fixture('reference', `deeplabv3_257_input_${name}.png`)), undefined, NO_RESIZE);
      const { logits } = await model.forward(pixelValues);
      assert.deepEqual(logits!.shape, [1, 21, 33, 33]);
      const ref = new Float32Array(new Uint8Array(readFileSync(fixture('reference', `deeplabv3_257_logits33x33x21_${name}.f32`))).buffer);
      const hwc = new Float32Array(ref.length);
      for (let c = 0; c < 21; c++) for (let p = 0; p < 33 * 33; p++) hwc[p * 21 + c] = logits!.data[c * 33 * 33 + p]!;
      assertClose(hwc, ref, `${name} logits`, 2e-3, 0);
    }
  });

  const reference = JSON.parse(readFileSync(fixture('reference', 'classifier_reference.json'), 'utf8')).items;
  // Float math on dequantized weights is not the integer runtime: top-1 agrees, probabilities differ
  // by quantization noise (more for the post-training-quantized Keras model).
  for (const [name, tolerance] of [['mobilenet_v2_1.0_224_quant', 0.02], ['tf2_mobilenet_v2_1.0_224_ptq', 0.07]] as const) {
    it(`${name}: same top-1 as the reference runtime, probabilities within ${tolerance}`, async (t) => {
      const { model, processor } = load(name);
      for (const photo of ['cat', 'grace_hopper', 'bird']) {
        const { pixelValues } = processor.preprocess(await loadImage(fixture('reference', `cls224_input_${photo}.png`)), undefined, NO_RESIZE);
        const p = await probabilities(model, pixelValues);
        const ref = readFileSync(fixture('reference', `${name}_output_u8_${photo}.bin`));
        const top = reference[name][photo].top5_index_1001[0] as number;
        let worst = 0;
        for (let i = 0; i < 1001; i++) worst = Math.max(worst, Math.abs(p[i]! - ref[i]! / 256));
        t.diagnostic(`${photo}: top-1 ${argmax(p)} p=${p[top]!.toFixed(3)} (reference ${top} p=${(ref[top]! / 256).toFixed(3)}), max |Δp| ${worst.toFixed(4)}`);
        assert.equal(argmax(p), top, photo);
        assert.ok(worst <= tolerance, `${photo}: max probability difference ${worst}`);
      }
    });
  }

  // Google's tests resize the whole photo to 224×224: cat.bmp → 286 "Egyptian cat" (≥ 0.7 TF-slim,
  // ≥ 0.6 Keras PTQ), grace_hopper.bmp → 653 "military uniform". transformers' flow (resize to 256,
  // crop 224) keeps the cat; it crops Grace Hopper to her cap, so only the whole-photo run checks 653.
  const WHOLE_PHOTO = { size: [224, 224] as [number, number], doCenterCrop: false };
  for (const [name, catMin] of [['mobilenet_v2_1.0_224_quant', 0.7], ['tf2_mobilenet_v2_1.0_224_ptq', 0.6]] as const) {
    it(`${name}: Google's photo expectations, and the cat through the converted preprocessor config`, async (t) => {
      const { model, processor } = load(name);
      const runs = [['cat', 286, catMin, {}], ['cat', 286, catMin, WHOLE_PHOTO], ['grace_hopper', 653, 0.5, WHOLE_PHOTO]] as const;
      for (const [photo, label, min, options] of runs) {
        const { pixelValues } = processor.preprocess(await loadImage(fixture('images', `${photo}.bmp`)), undefined, options);
        const p = await probabilities(model, pixelValues);
        const how = options === WHOLE_PHOTO ? 'whole photo at 224×224' : 'preprocessor_config.json';
        t.diagnostic(`${photo}.bmp (${how}): ${argmax(p)} "${model.config.id2label[argmax(p)]}" p=${p[label]!.toFixed(3)}`);
        assert.equal(argmax(p), label, `${photo} (${how})`);
        assert.ok(p[label]! >= min, `${photo} (${how}): p=${p[label]}`);
      }
    });
  }

  for (const name of ['deeplabv3_mnv2_pascal_quant', 'deeplabv3_mnv2_dm05_pascal_quant']) {
    it(`${name}: segments the bird with score > 0.9`, async (t) => {
      const { model, processor } = load(name);
      const image = await loadImage(fixture('images', 'bird_segmentation.bmp'));
      const { pixelValues } = processor.preprocess(image, undefined, { size: [513, 513], doCenterCrop: false });
      const [classes] = postProcessSemanticSegmentation(await model.forward(pixelValues), [[image.height, image.width]]);
      const mask = (await loadSegmentationMap(fixture('images', 'bird_segmentation_mask.bmp'))).data;
      let agree = 0;
      for (let i = 0; i < mask.length; i++) if (Number(classes!.data[i]) === (mask[i] === 255 ? 0 : mask[i])) agree++;
      const score = agree / (2 * mask.length - agree);
      t.diagnostic(`score ${score.toFixed(4)}`);
      assert.ok(score > 0.9, `score ${score}`);
    });
  }
});
