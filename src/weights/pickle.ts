/**
 * A safe subset of Python's unpickler, enough for `torch.save` files (pickle protocols 2–5).
 *
 * Unpickling normally imports and calls arbitrary Python callables named in the file; here every
 * GLOBAL / STACK_GLOBAL goes through the caller's `findClass`, which returns a value from a
 * whitelist or throws. Nothing else can produce a callable, so a malicious file can at worst make
 * the whitelisted constructors fail. Python values map to JavaScript as: None → null, bool →
 * boolean, int → number (bigint beyond 2^53), float → number, str → string, bytes → Uint8Array,
 * list and tuple → array, dict → Map.
 *
 * The file is untrusted, so decoding is bounded: no recursion anywhere (values may nest or refer
 * to themselves without limit), at most `CHECKPOINT_LIMITS.maxPickleOpcodes` opcodes (each
 * creates at most one value, which bounds memory), integers of at most
 * `maxPickleIntegerBytes` bytes, every length checked against the data left before it is used,
 * and dicts with a key given twice refused.
 */
import { quote } from '../describe.js';
import { MobileNetV2Error, check } from '../errors.js';
import { CHECKPOINT_LIMITS, checkFile } from './limits.js';

/** A Python callable a `findClass` resolver may return; REDUCE and NEWOBJ call it with the positional arguments. */
export type PickleCallable = (args: readonly unknown[]) => unknown;

/** What the unpickler asks of its caller. */
export interface UnpickleOptions {
  /** File name for error messages. */
  source: string;
  /** Resolves `module.name` of a GLOBAL to a whitelisted value (a {@link PickleCallable} or any marker); throws otherwise. */
  findClass(module: string, name: string): unknown;
  /** Resolves a persistent id (BINPERSID), e.g. torch's storage references. */
  persistentLoad(pid: unknown): unknown;
}

/**
 * Decodes a pickle, returning the object it describes.
 * @throws MobileNetV2Error naming `options.source`: `E_CHECKPOINT_CORRUPT` on truncated or
 *   malformed data, unsupported opcodes or protocols and exceeded limits; `E_CHECKPOINT_UNSAFE`
 *   when it calls a value that is not callable; and whatever `findClass` / `persistentLoad` throw.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  return new Unpickler(bytes, options).run();
}

class Unpickler {
  private pos = 0;
  private readonly stack: unknown[] = [];
  /** Stack heights at each pending MARK: where a variable-length group (tuple, list items, dict items) begins. */
  private readonly marks: number[] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly view: DataView;

  constructor(
    private readonly bytes: Uint8Array,
    private readonly options: UnpickleOptions,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  run(): unknown {
    for (let count = 1; ; count++) {
      const at = this.pos;
      checkFile(count <= CHECKPOINT_LIMITS.maxPickleOpcodes, () => this.message(`more than ${CHECKPOINT_LIMITS.maxPickleOpcodes} opcodes (not a state dict?)`));
      const op = this.u8();
      if (op === 0x2e /* STOP '.' */) {
        checkFile(this.stack.length === 1 && this.marks.length === 0, () => this.message(`STOP at byte ${at} with a malformed stack`));
        return this.stack[0];
      }
      this.step(op, at);
    }
  }

  private step(op: number, at: number): void {
    const s = this.stack;
    switch (op) {
      case 0x80: this.protocol(at); return; // PROTO
      case 0x95: this.take(8); return; // FRAME: a length hint for buffered readers
      case 0x28: this.marks.push(s.length); return; // MARK '('
      case 0x30: this.pop(); return; // POP '0'
      case 0x31: this.popMark(); return; // POP_MARK '1'
      case 0x32: s.push(this.top()); return; // DUP '2'
      case 0x4e: s.push(null); return; // NONE 'N'
      case 0x88: s.push(true); return; // NEWTRUE
      case 0x89: s.push(false); return; // NEWFALSE
      case 0x4a: s.push(this.view.getInt32(this.advance(4), true)); return; // BININT 'J'
      case 0x4b: s.push(this.u8()); return; // BININT1 'K'
      case 0x4d: s.push(this.view.getUint16(this.advance(2), true)); return; // BININT2 'M'
      case 0x8a: s.push(this.long(this.u8())); return; // LONG1
      case 0x8b: s.push(this.long(this.u32())); return; // LONG4
      case 0x47: s.push(this.view.getFloat64(this.advance(8), false)); return; // BINFLOAT 'G'
      case 0x58: s.push(this.utf8(this.u32())); return; // BINUNICODE 'X'
      case 0x8c: s.push(this.utf8(this.u8())); return; // SHORT_BINUNICODE
      case 0x8d: s.push(this.utf8(this.u64())); return; // BINUNICODE8
      case 0x42: s.push(this.take(this.u32()).slice()); return; // BINBYTES 'B'
      case 0x43: s.push(this.take(this.u8()).slice()); return; // SHORT_BINBYTES 'C'
      case 0x8e: s.push(this.take(this.u64()).slice()); return; // BINBYTES8
      case 0x29: s.push([]); return; // EMPTY_TUPLE ')'
      case 0x5d: s.push([]); return; // EMPTY_LIST ']'
      case 0x7d: s.push(new Map()); return; // EMPTY_DICT '}'
      case 0x74: s.push(this.popMark()); return; // TUPLE 't'
      case 0x6c: s.push(this.popMark()); return; // LIST 'l'
      case 0x85: s.push(this.popN(1)); return; // TUPLE1
      case 0x86: s.push(this.popN(2)); return; // TUPLE2
      case 0x87: s.push(this.popN(3)); return; // TUPLE3
      case 0x64: s.push(this.setItems(new Map(), this.popMark())); return; // DICT 'd'
      case 0x61: this.list(this.stackAt(-2, at)).push(this.pop()); return; // APPEND 'a'
      case 0x65: { // APPENDS 'e'
        const items = this.popMark();
        const target = this.list(this.stackAt(-1, at));
        for (const item of items) target.push(item);
        return;
      }
      case 0x73: this.setItems(this.stackAt(-3, at), this.popN(2)); return; // SETITEM 's'
      case 0x75: { // SETITEMS 'u'
        const items = this.popMark();
        this.setItems(this.stackAt(-1, at), items);
        return;
      }
      case 0x71: this.memo.set(this.u8(), this.top()); return; // BINPUT 'q'
      case 0x72: this.memo.set(this.u32(), this.top()); return; // LONG_BINPUT 'r'
      case 0x94: this.memo.set(this.memo.size, this.top()); return; // MEMOIZE
      case 0x68: s.push(this.memoGet(this.u8())); return; // BINGET 'h'
      case 0x6a: s.push(this.memoGet(this.u32())); return; // LONG_BINGET 'j'
      case 0x63: { // GLOBAL 'c': "module\nname\n"
        const module = this.line();
        s.push(this.options.findClass(module, this.line()));
        return;
      }
      case 0x93: { // STACK_GLOBAL
        const [module, name] = this.popN(2);
        checkFile(typeof module === 'string' && typeof name === 'string', () => this.message(`STACK_GLOBAL at byte ${at} needs two strings`));
        s.push(this.options.findClass(module, name));
        return;
      }
      case 0x52: { // REDUCE 'R': callable(*args)
        const args = this.pop();
        s.push(this.call(this.pop(), args, at));
        return;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
        const args = this.pop();
        s.push(this.call(this.pop(), args, at));
        return;
      }
      case 0x62: this.build(this.pop(), at); return; // BUILD 'b'
      case 0x51: s.push(this.options.persistentLoad(this.pop())); return; // BINPERSID 'Q'
      default:
        throw new MobileNetV2Error(
          this.message(`unsupported pickle opcode 0x${op.toString(16).padStart(2, '0')} at byte ${at} (corrupt file, or not a torch checkpoint?)`),
          { code: 'E_CHECKPOINT_CORRUPT' },
        );
    }
  }

  /** PROTO: versions 2–5 decode alike here; Python itself knows no higher one. */
  private protocol(at: number): void {
    const version = this.u8();
    checkFile(version <= 5, () => this.message(`unsupported pickle protocol ${version} at byte ${at}`));
  }

  private call(fn: unknown, args: unknown, at: number): unknown {
    check(typeof fn === 'function', () => this.message(`pickle calls a value that is not an allowed callable at byte ${at}`), 'E_CHECKPOINT_UNSAFE');
    checkFile(Array.isArray(args), () => this.message(`pickle call at byte ${at} has no argument tuple`));
    return (fn as PickleCallable)(args);
  }

  /** BUILD sets an object's state. Only dict attributes (OrderedDict's `_metadata`) occur in state dicts; they carry no tensors, so are dropped. */
  private build(state: unknown, at: number): void {
    checkFile(this.top() instanceof Map && state instanceof Map, () => this.message(`BUILD at byte ${at} on an unsupported object`));
  }

  private setItems(target: unknown, items: unknown[]): Map<unknown, unknown> {
    checkFile(target instanceof Map && items.length % 2 === 0, () => this.message('SETITEM(S) on a value that is not a dict'));
    for (let i = 0; i < items.length; i += 2) {
      // A repeated key would silently replace a tensor; torch.save never writes one.
      const key = items[i];
      checkFile(!target.has(key), () => this.message(`a dict sets key ${typeof key === 'string' ? quote(key) : `of type ${typeof key}`} twice`));
      target.set(key, items[i + 1]);
    }
    return target;
  }

  private list(target: unknown): unknown[] {
    checkFile(Array.isArray(target), () => this.message('APPEND(S) on a value that is not a list'));
    return target;
  }

  private memoGet(index: number): unknown {
    checkFile(this.memo.has(index), () => this.message(`memo entry ${index} is read before it is written (corrupt pickle?)`));
    return this.memo.get(index);
  }

  private top(): unknown {
    checkFile(this.stack.length > 0, () => this.message(`stack underflow at byte ${this.pos - 1} (corrupt pickle?)`));
    return this.stack[this.stack.length - 1];
  }

  private pop(): unknown {
    const value = this.top();
    this.stack.pop();
    return value;
  }

  private popN(n: number): unknown[] {
    checkFile(this.stack.length >= n, () => this.message(`stack underflow at byte ${this.pos - 1} (corrupt pickle?)`));
    return this.stack.splice(this.stack.length - n, n);
  }

  /** The stack element at a negative index, after checking it exists. */
  private stackAt(index: number, at: number): unknown {
    checkFile(this.stack.length >= -index, () => this.message(`stack underflow at byte ${at} (corrupt pickle?)`));
    return this.stack[this.stack.length + index];
  }

  /** Pops everything pushed since the last MARK. */
  private popMark(): unknown[] {
    const height = this.marks.pop();
    checkFile(height !== undefined && height <= this.stack.length, () => this.message(`no MARK before byte ${this.pos - 1} (corrupt pickle?)`));
    return this.stack.splice(height);
  }

  /** Consumes `n` bytes, returning where they start. */
  private advance(n: number): number {
    const start = this.pos;
    checkFile(n <= this.bytes.length - start, () => this.message(`pickle is truncated at byte ${start} (needs ${n} more bytes)`));
    this.pos += n;
    return start;
  }

  private take(n: number): Uint8Array {
    const start = this.advance(n);
    return this.bytes.subarray(start, start + n);
  }

  private u8(): number {
    return this.bytes[this.advance(1)]!;
  }

  private u32(): number {
    return this.view.getUint32(this.advance(4), true);
  }

  private u64(): number {
    const value = this.view.getBigUint64(this.advance(8), true);
    // Anything beyond the file length fails the bounds check in take() anyway.
    return value > BigInt(this.bytes.length) ? this.bytes.length + 1 : Number(value);
  }

  /** Two's-complement little-endian integer of `n` bytes: a number when exact, else a bigint. */
  private long(n: number): number | bigint {
    // Capped, as BigInt arithmetic on long digit strings is quadratic.
    checkFile(
      n <= CHECKPOINT_LIMITS.maxPickleIntegerBytes,
      () => this.message(`${n}-byte integer at byte ${this.pos} (at most ${CHECKPOINT_LIMITS.maxPickleIntegerBytes} are supported)`),
    );
    const digits = this.take(n);
    let value = 0n;
    for (let i = n - 1; i >= 0; i--) value = (value << 8n) | BigInt(digits[i]!);
    if (n > 0 && digits[n - 1]! & 0x80) value -= 1n << BigInt(8 * n);
    return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value;
  }

  private utf8(n: number): string {
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(this.take(n));
    } catch (e) {
      if (e instanceof MobileNetV2Error) throw e;
      throw new MobileNetV2Error(this.message(`invalid UTF-8 string before byte ${this.pos}`), { code: 'E_CHECKPOINT_CORRUPT', cause: e });
    }
  }

  /** A newline-terminated line (GLOBAL's operands: short ASCII names). */
  private line(): string {
    // Look no further than the longest name allowed, so a missing newline costs no full scan.
    const length = this.bytes.subarray(this.pos, this.pos + 257).indexOf(0x0a);
    checkFile(length >= 0 || this.pos + 257 <= this.bytes.length, () => this.message(`pickle is truncated at byte ${this.pos} (unterminated GLOBAL name)`));
    checkFile(length >= 0, () => this.message(`GLOBAL name at byte ${this.pos} is too long (corrupt pickle?)`));
    return String.fromCharCode(...this.take(length + 1).subarray(0, -1));
  }

  private message(text: string): string {
    return `${this.options.source}: ${text}`;
  }
}
