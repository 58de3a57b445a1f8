/** The Node training API (re-exported by `index.ts`). */
export { trainFromFolder, saveTrained, evaluateFolder, evaluateSegmentationFolders, type FolderTrainOptions, type FolderEvaluateOptions } from './train_node.js';
export { DiskEmbeddingCache } from './embedding_cache_node.js';
export { readImageFolder } from './folder_node.js';
