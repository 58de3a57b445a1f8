/**
 * `mobilenet-v2 segment [--model M] [--json] [--mask out.png] [--overlay out.png] IMAGES...`: the
 * classes present in each image and their share of it, optionally the class map as a palette PNG
 * and the image overlaid with class colours; the shipped PASCAL VOC DeepLabV3 unless `--model`.
 */
import { basename, extname, join, sep } from 'node:path';
import type { Command } from 'commander';
import sharp, { type Sharp } from 'sharp';
import { check, MobileNetV2Error } from '../../errors.js';
import { checkOutputFile, outputKind, writeFileAtomic } from '../../node/write_folder.js';
import { encodePng, writePng } from '../../processing/image_io_node.js';
import type { RawImage } from '../../processing/image.js';
import {
  addImageCommand, imageFiles, JsonStream, processFiles, withPipeline, type BatchFlags,
} from '../support/command_helpers.js';
import type { SegmentationPrediction } from '../../pipelines/image_segmentation.js';
import { overlayLabelMap, overlayPalette, pascalVocPalette } from '../../pipelines/palette.js';
import { segmentationJson, segmentFraction } from '../../pipelines/result_json.js';

interface SegmentFlags extends BatchFlags {
  json?: boolean;
  mask?: string;
  overlay?: string;
}

/** Placeholder of output paths replaced by each image's file name without extension. */
const NAME = '{name}';

/** How the overlay is encoded besides PNG, by output extension (the mask is always a palette PNG). */
const OVERLAY_FORMATS: Record<string, (image: Sharp) => Sharp> = {
  '.jpg': (image) => image.jpeg(),
  '.jpeg': (image) => image.jpeg(),
  '.webp': (image) => image.webp(),
};

/** One output option: its flag, the path given and the extensions it can write. */
interface OutputOption {
  flag: string;
  path: string;
  extensions: readonly string[];
}

/**
 * The output path of each image for one option. A folder (an existing one, or a path ending in
 * `/`) gets `<folder>/<image name>.png`; a path with `{name}` gets it replaced by each image's
 * name; a plain file path is only for one image. Every path is checked before the model runs.
 */
async function outputPaths(option: OutputOption, files: readonly string[], several: boolean): Promise<Map<string, string>> {
  const { flag, path } = option;
  const kind = path.endsWith('/') || path.endsWith(sep) ? 'folder' : await outputKind(path);
  check(kind === 'folder' || !several || path.includes(NAME),
    `${flag} ${path}: several images need a folder (e.g. masks/) or a path with ${NAME} (e.g. masks/${NAME}.png)`);
  const template = kind === 'folder' ? join(path, `${NAME}.png`) : path;
  // A device or FIFO (/dev/stdout, a pipe) takes the bytes as they are; a file's extension must say what it holds.
  check(kind === 'stream' || option.extensions.includes(extname(template).toLowerCase()),
    `${flag} ${path}: can only write ${option.extensions.join(', ')} files`);
  const paths = new Map<string, string>();
  for (const file of files) {
    const out = template.replaceAll(NAME, basename(file, extname(file)));
    await checkOutputFile(out);
    paths.set(file, out);
  }
  return paths;
}

/** Output paths of every option, refusing two outputs (two images, or mask and overlay) on one file. */
async function allOutputPaths(options: ReadonlyArray<OutputOption | null>, files: readonly string[], several: boolean): Promise<Array<Map<string, string> | null>> {
  const owners = new Map<string, string>();
  const all: Array<Map<string, string> | null> = [];
  for (const option of options) {
    const paths = option && (await outputPaths(option, files, several));
    for (const [file, path] of paths ?? []) {
      if ((await outputKind(path)) === 'stream') continue; // /dev/null may take every output
      const other = owners.get(path);
      if (other !== undefined) throw new MobileNetV2Error(`${other} and ${option!.flag} of ${file} would both be written to ${path}`);
      owners.set(path, `${option!.flag} of ${file}`);
    }
    all.push(paths);
  }
  return all;
}

/** Encodes the overlay as its file's extension says (JPEG, WebP; PNG otherwise, e.g. for a device). */
async function encodeOverlay(image: RawImage, path: string): Promise<Uint8Array> {
  const encode = OVERLAY_FORMATS[extname(path).toLowerCase()];
  if (!encode) return encodePng(image);
  const { data, width, height, channels } = image;
  const out = await encode(sharp(data, { raw: { width, height, channels } })).toBuffer();
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

function formatText(file: string, p: SegmentationPrediction): string {
  const width = Math.max(...p.segments.map((s) => s.label.length));
  const lines = p.segments.map((s) =>
    `  ${s.label.padEnd(width)}  ${String(s.index).padStart(3)}  ${(segmentFraction(s.pixels, p) * 100).toFixed(1).padStart(5)}%  score ${s.score.toFixed(3)}`);
  return `${file} (${p.map.width}x${p.map.height})\n${lines.join('\n')}\n`;
}

/** Registers the `segment` command. */
export function register(program: Command): void {
  addImageCommand(program, 'segment', 'segment images: the classes present, their pixel share and mean probability; optionally a class-map PNG and a colour overlay', 'the shipped deeplabv3_mnv2_pascal_quant PASCAL VOC segmenter')
    .option('--json', 'print {"file","width","height","segments":[{"index","label","pixels","fraction"}]} per image (an array for several images or a folder)')
    .option('--mask <out.png|folder/>', `write the class map at the image's size as a palette PNG (pixel value = class index; PASCAL VOC colours); a folder gets <image name>.png, ${NAME} in the path is replaced by the image's name`)
    .option('--overlay <out.png|.jpg|.webp|folder/>', `write the image blended with a colour per class (PASCAL VOC palette), encoded as the extension says; a folder gets <image name>.png, ${NAME} as for --mask`)
    .action(async (args: string[], flags: SegmentFlags, cmd: Command) => {
      const { files, several } = await imageFiles(args);
      const [masks, overlays] = await allOutputPaths([
        flags.mask !== undefined ? { flag: '--mask', path: flags.mask, extensions: ['.png'] } : null,
        flags.overlay !== undefined ? { flag: '--overlay', path: flags.overlay, extensions: ['.png', ...Object.keys(OVERLAY_FORMATS)] } : null,
      ], files, several);
      const json = flags.json ? new JsonStream(several) : null;
      await withPipeline('image-segmentation', { ...flags, worker: files.length > 1 }, async (segmenter) => {
        const classes = segmenter.model.config.numLabels;
        check(!masks || classes <= 256, `--mask: the model has ${classes} classes; a PNG class map holds at most 256`);
        const palette = pascalVocPalette(Math.min(classes, 256));
        const overlayColours = overlayPalette(Math.min(classes, 256));
        await processFiles(cmd, flags, files, json, segmenter, (images) => segmenter.predict(images), async (file, _image, p) => {
          const { width, height, labels } = p.map;
          if (masks) await writePng(masks.get(file)!, { data: labels as Uint8Array, width, height, channels: 1 }, { palette });
          if (overlays) {
            const path = overlays.get(file)!;
            await writeFileAtomic(path, await encodeOverlay(overlayLabelMap(p.image, p.map, overlayColours), path));
          }
          if (!json) {
            process.stdout.write(formatText(file, p));
            return;
          }
          json.write({ file, ...segmentationJson(p) });
        });
      });
    });
}
