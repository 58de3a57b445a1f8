/**
 * Reads an image-classification dataset from a folder (the ImageFolder convention): one subfolder
 * per class, class names = subfolder names, image files found recursively by extension.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MobileNetV2Error } from '../errors.js';
import { collectImageFiles } from '../processing/image_files_node.js';
import { sharedDecoder } from '../processing/prepare_pool_node.js';
import type { LabeledImage } from './dataset.js';
import type { ImageAccess } from './embeddings.js';

/**
 * The images of `dir`, labelled by their class subfolder (sorted by class, then path).
 *
 * @throws MobileNetV2Error when `dir` cannot be read, has no class subfolders, or a class
 *   subfolder holds no image file.
 */
export async function readImageFolder(dir: string): Promise<LabeledImage[]> {
  const entries = await readdir(dir, { withFileTypes: true }).catch((cause: unknown) => {
    throw new MobileNetV2Error(`${dir}: cannot read the dataset folder (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { code: 'E_FILE_NOT_FOUND', cause });
  });
  const classes = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  if (classes.length === 0) throw new MobileNetV2Error(`${dir}: no class subfolders; put each class's images in a subfolder named after the class`, { code: 'E_FILE_NOT_FOUND' });
  const items: LabeledImage[] = [];
  const empty: string[] = [];
  for (const label of classes) {
    const { files } = await collectImageFiles([join(dir, label)]);
    if (files.length === 0) empty.push(label);
    for (const file of files) items.push({ label, image: file, name: file });
  }
  if (empty.length) throw new MobileNetV2Error(`${dir}: class folder${empty.length > 1 ? 's' : ''} ${empty.map((c) => `"${c}"`).join(', ')} ha${empty.length > 1 ? 've' : 's'} no image files`, { code: 'E_FILE_NOT_FOUND' });
  return items;
}

/** Reads and decodes image files (for `embedDataset`), with errors naming the file. */
export const nodeImageAccess: Required<ImageAccess> = {
  async readBytes(path) {
    return readFile(path).catch((cause: unknown) => {
      throw new MobileNetV2Error(`${path}: cannot read (${(cause as NodeJS.ErrnoException).code ?? String(cause)})`, { code: 'E_FILE_NOT_FOUND', cause });
    });
  },
  decode: (bytes, name) => sharedDecoder().load(bytes, name),
};
