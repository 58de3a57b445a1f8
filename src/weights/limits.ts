/**
 * Limits of the checkpoint readers (PyTorch zip + pickle, safetensors), in one place, and the
 * check they share. A checkpoint is untrusted input: these bounds keep a hostile file from using
 * more time or memory than its size justifies, while staying far above anything a real
 * checkpoint needs.
 */
import { check } from '../errors.js';

/** Bounds the checkpoint readers enforce; exceeding one is an `E_CHECKPOINT_CORRUPT` error. */
export const CHECKPOINT_LIMITS = {
  /**
   * Largest `data.pkl` read from a torch.save archive, in bytes. A state dict pickles in about 140
   * bytes per tensor (MobileNetV2: 43 KB), so 32 MiB is room for some 200 000 tensors.
   */
  maxPickleBytes: 32 * 2 ** 20,
  /**
   * Most opcodes the unpickler executes. Each opcode creates at most one value, so this bounds
   * the memory a pickle can make the reader hold (a state dict needs about 35 per tensor).
   */
  maxPickleOpcodes: 2_000_000,
  /** Longest LONG1/LONG4 integer, in bytes: torch pickles sizes and offsets as int64 at most. */
  maxPickleIntegerBytes: 8,
  /**
   * Deflate cannot expand data more than about 1032-fold; a zip entry that claims more is
   * corrupt, whatever its other fields say.
   */
  maxDeflateRatio: 1032,
  /** Largest safetensors JSON header, in bytes: the reference (Rust) loader's limit. */
  maxSafetensorsHeaderBytes: 100_000_000,
  /** Deepest nesting of arrays and objects in a safetensors header (a valid one nests 3 deep). */
  maxSafetensorsHeaderDepth: 16,
  /** Most arrays and objects in a safetensors header (a valid one has 3 per tensor, plus 2). */
  maxSafetensorsHeaderContainers: 1_000_000,
} as const;

/** Throws an `E_CHECKPOINT_CORRUPT` {@link MobileNetV2Error} with `message` unless `condition` holds. */
export function checkFile(condition: unknown, message: string | (() => string)): asserts condition {
  check(condition, message, 'E_CHECKPOINT_CORRUPT');
}
