/**
 * Where a model's checkpoint files come from. The model loader only ever asks for files by name
 * (`config.json`, `model.safetensors`, ...), so the same loading code serves a local folder, a hub
 * repo cached on disk (Node) and a hub repo fetched into the browser's Cache Storage.
 */
export interface ModelFiles {
  /** Human-readable origin for error messages, e.g. a folder path or `org/name (revision main) at <endpoint>`. */
  readonly description: string;
  /**
   * The bytes of file `name` (a path relative to the model root), or `null` when the model has no
   * such file. Failures other than absence (network, corrupt download, offline mode without a cached
   * copy, unreadable file) throw a MobileNetV2Error.
   */
  read(name: string): Promise<Uint8Array | null>;
  /**
   * Optional: size of file `name` and a fingerprint that changes whenever its contents may have
   * (Node: resolved path, size and modification time), or `null` when absent. With
   * {@link readRange} it lets the loader read a checkpoint's header first and its data only when
   * needed, and keys the compiled-graph cache.
   */
  stat?(name: string): Promise<FileStat | null>;
  /** Optional: `length` bytes of file `name` starting at byte `start`. */
  readRange?(name: string, start: number, length: number): Promise<Uint8Array>;
}

/** What {@link ModelFiles.stat} tells about a file. */
export interface FileStat {
  /** Size in bytes. */
  readonly size: number;
  /** Changes whenever the file's contents may have changed. */
  readonly fingerprint: string;
}

/** One step of a file download, reported to a {@link DownloadProgressCallback}. */
export interface DownloadProgress {
  /** The file being downloaded (name inside the repo). */
  readonly file: string;
  /** Bytes received so far, including any resumed partial download. */
  readonly loaded: number;
  /** Full size of the file when the server says it, else `undefined`. */
  readonly total: number | undefined;
  /** `true` on the last event for this file, once all bytes arrived (before verification). */
  readonly done: boolean;
}

/** Receives download progress; called at least once at the start and once when `done`. */
export type DownloadProgressCallback = (progress: DownloadProgress) => void;
