/**
 * PyTorch `pytorch_model.bin`: a zip (torch.save's format) holding a pickle. Mutates the raw
 * bytes, the zip's header fields, and the pickle itself (opcodes spliced in, re-zipped).
 */
import fc from 'fast-check';
import { unzipSync, zipSync } from 'fflate';
import { parseTorchCheckpoint } from '../../src/weights/pytorch.js';
import { applyMutations, byteMutations, concat, mutatedBytes, mutatedZipFields } from '../mutate.js';
import { fixture, type Target } from '../target.js';

const SEEDS = ['hf/c_cls_050_64_nopad/pytorch_model.bin', 'hf/f_seg_035_os8_65/pytorch_model.bin'];

const latin1 = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

/** Pickle opcodes (with arguments) that stress an unpickler: big lengths, memo misses, globals, stack ops. */
const OPCODES = [
  '\x8a\x09\xff\xff\xff\xff\xff\xff\xff\xff\x7f', '\x8b\xff\xff\xff\x7f', '\x8b\x00\x00\x10\x00', 'X\xff\xff\xff\xff', 'X\x05\x00\x00\x00ab',
  '\x8c\xffab', 'h\xff', 'j\xff\xff\xff\xff', 'q\x00', '\x94', '}', ']', '(', ')', 't', 'u', 'e', 'a', 'R', 'b', '0', '2', '.', 'N',
  'cos\nsystem\n', 'cbuiltins\neval\n', 'ctorch._utils\n_rebuild_tensor_v2\n', 'ccollections\nOrderedDict\n', 'ctorch\nFloatStorage\n',
  'Q', '\x95\xff\xff\xff\xff\xff\xff\xff\x7f', '\x80\x05', 'J\xff\xff\xff\xff', 'K\xff', 'M\xff\xff', '\x81', '\x85', '\x86', '\x87', '\x88', '\x89',
  '\x8c\x0fX'.padEnd(18, 'Y'), 'G\x7f\xf0\x00\x00\x00\x00\x00\x00', 'B\xff\xff\xff\xff', 'C\x10abc', 'T\xff\xff\xff\x7f',
].map(latin1);

/** An edit of the pickle: splice in an opcode, drop a range, or repeat a range. */
const pickleEdit = fc.oneof(
  fc.record({ kind: fc.constant('opcode' as const), at: fc.nat(), opcode: fc.nat(OPCODES.length - 1) }),
  fc.record({ kind: fc.constant('drop' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 32 }) }),
  fc.record({ kind: fc.constant('repeat' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 64 }), times: fc.integer({ min: 2, max: 200 }) }),
);

type PickleEdit = typeof pickleEdit extends fc.Arbitrary<infer E> ? E : never;

function editPickle(pickle: Uint8Array, edit: PickleEdit): Uint8Array {
  const at = edit.at % (pickle.length + 1);
  if (edit.kind === 'opcode') return concat(pickle.subarray(0, at), OPCODES[edit.opcode]!, pickle.subarray(at));
  if (edit.kind === 'drop') return concat(pickle.subarray(0, at), pickle.subarray(at + edit.length));
  const range = pickle.subarray(at, at + edit.length);
  return concat(pickle.subarray(0, at), ...Array<Uint8Array>(edit.times).fill(range), pickle.subarray(at));
}

/** Re-zips a checkpoint with its `data.pkl` edited (and sometimes byte-mutated), other records kept. */
function mutatedPickle(seed: Uint8Array): fc.Arbitrary<Uint8Array> {
  const entries = unzipSync(seed);
  const pklName = Object.keys(entries).find((n) => n.endsWith('/data.pkl'))!;
  return fc
    .tuple(fc.array(pickleEdit, { minLength: 1, maxLength: 4 }), fc.option(byteMutations))
    .map(([edits, bytes]) => {
      let pickle = edits.reduce(editPickle, entries[pklName]!);
      if (bytes) pickle = applyMutations(pickle, bytes);
      return zipSync({ ...entries, [pklName]: pickle }, { level: 0 });
    });
}

export const pytorch: Target = {
  name: 'pytorch',
  description: 'parseTorchCheckpoint on pytorch_model.bin: raw bytes, zip header fields, pickle opcodes',
  async inputs() {
    const seeds = SEEDS.map(fixture);
    return fc.oneof(mutatedBytes(seeds), ...seeds.map(mutatedZipFields), ...seeds.map(mutatedPickle));
  },
  async run(input) {
    parseTorchCheckpoint(input, 'fuzz/pytorch_model.bin');
  },
};
