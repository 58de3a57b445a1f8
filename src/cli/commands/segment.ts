/**
 * `mobilenet-v2 segment [--model M] [--json] [--mask out.png] [--overlay out.png] IMAGES...`: the
 * classes present in each image and their share of it, optionally the class map as a palette PNG
 * and the image overlaid with class colours; the shipped PASCAL VOC DeepLabV3 unless `--model`.
 */
import { basename, extname } from 'node:path';
import type { Command } from 'commander';
import { check, MobileNetV2Error } from '../../errors.js';
import { writePng } from '../../processing/image_io_node.js';
import {
  addImageCommand, imageFiles, JsonStream, processFiles, withPipeline, type BatchFlags,
} from '../../pipelines/cli_support_node.js';
import type { SegmentationPrediction } from '../../pipelines/image_segmentation.js';
import { overlayLabelMap, pascalVocPalette } from '../../pipelines/palette.js';

interface SegmentFlags extends BatchFlags {
  json?: boolean;
  mask?: string;
  overlay?: string;
}

/** Placeholder of output paths replaced by each image's file name without extension. */
const NAME = '{name}';

/**
 * The output path of each image for `--mask`/`--overlay`: the path itself for one image; with
 * several, `{name}` must occur in it and two images must not map to the same file.
 */
function outputPaths(flag: string, template: string, files: readonly string[], several: boolean): Map<string, string> {
  if (!several) return new Map([[files[0]!, template]]);
  check(template.includes(NAME), `${flag} ${template}: with several images the path needs ${NAME} (the image's name), e.g. masks/${NAME}.png`);
  const paths = new Map<string, string>();
  const owners = new Map<string, string>();
  for (const file of files) {
    const path = template.replaceAll(NAME, basename(file, extname(file)));
    const other = owners.get(path);
    if (other !== undefined) throw new MobileNetV2Error(`${flag}: ${other} and ${file} would both be written to ${path}`);
    owners.set(path, file);
    paths.set(file, path);
  }
  return paths;
}

/** Share of the image, in [0, 1]. */
function fraction(pixels: number, p: SegmentationPrediction): number {
  return pixels / (p.map.width * p.map.height);
}

function formatText(file: string, p: SegmentationPrediction): string {
  const width = Math.max(...p.segments.map((s) => s.label.length));
  const lines = p.segments.map((s) =>
    `  ${s.label.padEnd(width)}  ${String(s.index).padStart(3)}  ${(fraction(s.pixels, p) * 100).toFixed(1).padStart(5)}%  score ${s.score.toFixed(3)}`);
  return `${file} (${p.map.width}x${p.map.height})\n${lines.join('\n')}\n`;
}

/** Registers the `segment` command. */
export function register(program: Command): void {
  addImageCommand(program, 'segment', 'segment images: the classes present, their pixel share and mean probability; optionally a class-map PNG and a colour overlay', 'the shipped deeplabv3_mnv2_pascal_quant PASCAL VOC segmenter')
    .option('--json', 'print {"file","width","height","segments":[{"index","label","pixels","fraction"}]} per image (an array for several images or a folder)')
    .option('--mask <out.png>', `write the class map at the image's size as a palette PNG (pixel value = class index; PASCAL VOC colours); with several images use ${NAME} in the path`)
    .option('--overlay <out.png>', `write the image blended with a colour per class (PASCAL VOC palette); with several images use ${NAME} in the path`)
    .action(async (args: string[], flags: SegmentFlags, cmd: Command) => {
      const { files, several } = await imageFiles(args);
      const masks = flags.mask !== undefined ? outputPaths('--mask', flags.mask, files, several) : null;
      const overlays = flags.overlay !== undefined ? outputPaths('--overlay', flags.overlay, files, several) : null;
      const json = flags.json ? new JsonStream(several) : null;
      await withPipeline('image-segmentation', { ...flags, worker: files.length > 1 }, async (segmenter) => {
        const classes = segmenter.model.config.numLabels;
        check(!masks || classes <= 256, `--mask: the model has ${classes} classes; a PNG class map holds at most 256`);
        const palette = pascalVocPalette(Math.min(classes, 256));
        await processFiles(cmd, flags, files, json, (images) => segmenter.predict(images), async (file, _image, p) => {
          const { width, height, labels } = p.map;
          if (masks) await writePng(masks.get(file)!, { data: labels as Uint8Array, width, height, channels: 1 }, { palette });
          if (overlays) await writePng(overlays.get(file)!, overlayLabelMap(p.image, p.map, palette));
          if (!json) {
            process.stdout.write(formatText(file, p));
            return;
          }
          const segments = p.segments.map(({ index, label, pixels }) => ({ index, label, pixels, fraction: fraction(pixels, p) }));
          json.write({ file, width, height, segments });
        });
      });
    });
}
