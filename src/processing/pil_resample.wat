;; The two convolution passes of Pillow's ImagingResample (see pil_resample.ts) in WebAssembly SIMD,
;; and the processor's table lookup into float32 channel planes.
;; Source of pil_resample_wasm_module.ts: edit this, then `npm run build:wasm`.
;;
;; Same bits as the JavaScript passes: uint8 pixels times int32 weights summed in int32 lanes from
;; 1 << 21 with wrapping adds (the JS `| 0`); then `>> 22` and two saturating narrowings, which
;; clamp to 0..255 exactly as clip8 does (the shifted sum lies in -512..511).
;;
;; The two passes read up to 15 bytes past their input and write up to 15 bytes past their output
;; (whole vectors); the caller leaves that much room after each buffer.
(module
  (memory (export "memory") 1)

  ;; Horizontal pass: `nrows` source rows of `stride` bytes from `src`, `nout` output pixels per row,
  ;; `channels` (1-4) interleaved; one output pixel per vector, channel c in int32 lane c.
  ;;
  ;; Taps go in pairs through i32x4.dot_i16x8_s (8 products in one instruction): each int32 weight
  ;; is split as w = hi * 2^15 + lo with 0 <= lo < 2^15, both 16-bit, and the pixel sum is
  ;; 2^15 * sum(p * hi) + sum(p * lo), equal modulo 2^32 to the JS sum, which is all int32 keeps.
  ;; Per output pixel, `bounds` holds [byte offset of its first tap in the row, number of tap pairs]
  ;; and `weights` holds, per pair, the i16x8 vectors [lo_k, lo_k+1] x 4 and [hi_k, hi_k+1] x 4
  ;; (a missing last tap weighs 0), `wstride` bytes per output pixel. `mask` (16 bytes) picks the
  ;; bytes of a pair of pixels into zero-extended [c0_k, c0_k+1, c1_k, c1_k+1, ...] lanes.
  (func (export "rows")
    (param $src i32) (param $stride i32) (param $nrows i32) (param $channels i32) (param $mask i32)
    (param $bounds i32) (param $weights i32) (param $wstride i32) (param $nout i32) (param $out i32)
    (local $x i32) (local $b i32) (local $w i32) (local $p i32) (local $wk i32) (local $k i32)
    (local $step i32) (local $pick v128) (local $v v128) (local $lo v128) (local $hi v128)
    (local.set $pick (v128.load (local.get $mask)))
    (local.set $step (i32.shl (local.get $channels) (i32.const 1)))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $nrows)))
        (local.set $x (local.get $nout))
        (local.set $b (local.get $bounds))
        (local.set $w (local.get $weights))
        (block $rowDone
          (loop $pixel
            (br_if $rowDone (i32.eqz (local.get $x)))
            (local.set $p (i32.add (local.get $src) (i32.load (local.get $b))))
            (local.set $k (i32.load offset=4 (local.get $b)))
            (local.set $wk (local.get $w))
            (local.set $lo (v128.const i32x4 0x200000 0x200000 0x200000 0x200000))
            (local.set $hi (v128.const i32x4 0 0 0 0))
            (block $tapsDone
              (loop $pair
                (br_if $tapsDone (i32.eqz (local.get $k)))
                (local.set $v (i8x16.swizzle (v128.load64_zero (local.get $p)) (local.get $pick)))
                (local.set $lo (i32x4.add (local.get $lo) (i32x4.dot_i16x8_s (local.get $v) (v128.load (local.get $wk)))))
                (local.set $hi (i32x4.add (local.get $hi) (i32x4.dot_i16x8_s (local.get $v) (v128.load offset=16 (local.get $wk)))))
                (local.set $p (i32.add (local.get $p) (local.get $step)))
                (local.set $wk (i32.add (local.get $wk) (i32.const 32)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $pair)))
            ;; The sum, >> 22, clamped to 0..255 by the saturating narrowings; lane 0 holds the 4 bytes.
            (local.set $v (i32x4.shr_s (i32x4.add (local.get $lo) (i32x4.shl (local.get $hi) (i32.const 15))) (i32.const 22)))
            (local.set $v (i16x8.narrow_i32x4_s (local.get $v) (local.get $v)))
            (v128.store32_lane 0 (local.get $out) (i8x16.narrow_i16x8_u (local.get $v) (local.get $v)))
            (local.set $out (i32.add (local.get $out) (local.get $channels)))
            (local.set $b (i32.add (local.get $b) (i32.const 8)))
            (local.set $w (i32.add (local.get $w) (local.get $wstride)))
            (local.set $x (i32.sub (local.get $x) (i32.const 1)))
            (br $pixel)))
        (local.set $src (i32.add (local.get $src) (local.get $stride)))
        (local.set $nrows (i32.sub (local.get $nrows) (i32.const 1)))
        (br $row))))

  ;; Vertical pass: `nout` output rows of `rowLength` bytes; output row i reads rows
  ;; bounds[2i] - row0 .. of `rows` (the horizontal pass's output, first row = source row `row0`).
  ;; `bounds` holds [first source row, count] and `weights` `ksize` int32 weights per output row.
  ;; Sixteen bytes per step, their sums in four vectors held across all of the taps.
  (func (export "columns")
    (param $rows i32) (param $rowLength i32) (param $row0 i32)
    (param $bounds i32) (param $weights i32) (param $ksize i32) (param $nout i32) (param $out i32)
    (local $e i32) (local $base i32) (local $count i32) (local $p i32) (local $wk i32) (local $k i32)
    (local $v v128) (local $lo v128) (local $hi v128) (local $ws v128)
    (local $a0 v128) (local $a1 v128) (local $a2 v128) (local $a3 v128)
    (local.set $ksize (i32.shl (local.get $ksize) (i32.const 2)))
    (block $done
      (loop $row
        (br_if $done (i32.eqz (local.get $nout)))
        (local.set $base (i32.add (local.get $rows)
          (i32.mul (i32.sub (i32.load (local.get $bounds)) (local.get $row0)) (local.get $rowLength))))
        (local.set $count (i32.load offset=4 (local.get $bounds)))
        (local.set $e (i32.const 0))
        (block $rowDone
          (loop $chunk
            (br_if $rowDone (i32.ge_u (local.get $e) (local.get $rowLength)))
            (local.set $a0 (v128.const i32x4 0x200000 0x200000 0x200000 0x200000))
            (local.set $a1 (local.get $a0))
            (local.set $a2 (local.get $a0))
            (local.set $a3 (local.get $a0))
            (local.set $p (i32.add (local.get $base) (local.get $e)))
            (local.set $wk (local.get $weights))
            (local.set $k (local.get $count))
            (block $tapsDone
              (loop $tap
                (br_if $tapsDone (i32.eqz (local.get $k)))
                (local.set $v (v128.load (local.get $p)))
                (local.set $lo (i16x8.extend_low_i8x16_u (local.get $v)))
                (local.set $hi (i16x8.extend_high_i8x16_u (local.get $v)))
                (local.set $ws (v128.load32_splat (local.get $wk)))
                (local.set $a0 (i32x4.add (local.get $a0) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $lo)) (local.get $ws))))
                (local.set $a1 (i32x4.add (local.get $a1) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $lo)) (local.get $ws))))
                (local.set $a2 (i32x4.add (local.get $a2) (i32x4.mul (i32x4.extend_low_i16x8_u (local.get $hi)) (local.get $ws))))
                (local.set $a3 (i32x4.add (local.get $a3) (i32x4.mul (i32x4.extend_high_i16x8_u (local.get $hi)) (local.get $ws))))
                (local.set $p (i32.add (local.get $p) (local.get $rowLength)))
                (local.set $wk (i32.add (local.get $wk) (i32.const 4)))
                (local.set $k (i32.sub (local.get $k) (i32.const 1)))
                (br $tap)))
            ;; >> 22 and the saturating narrowings, as in the horizontal pass, for 16 sums at once.
            (v128.store (i32.add (local.get $out) (local.get $e)) (i8x16.narrow_i16x8_u
              (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a0) (i32.const 22)) (i32x4.shr_s (local.get $a1) (i32.const 22)))
              (i16x8.narrow_i32x4_s (i32x4.shr_s (local.get $a2) (i32.const 22)) (i32x4.shr_s (local.get $a3) (i32.const 22)))))
            (local.set $e (i32.add (local.get $e) (i32.const 16)))
            (br $chunk)))
        (local.set $out (i32.add (local.get $out) (local.get $rowLength)))
        (local.set $bounds (i32.add (local.get $bounds) (i32.const 8)))
        (local.set $weights (i32.add (local.get $weights) (local.get $ksize)))
        (local.set $nout (i32.sub (local.get $nout) (i32.const 1)))
        (br $row))))

  ;; The processor's last step (processor.ts toPixelValues): `n` pixels of `channels` interleaved
  ;; bytes at `src` to channel planes of float32 at `out`, each byte through its channel's 256-entry
  ;; float32 table at `lut` (made in JS, where the rescale and normalise rule lives). Scalar: WASM
  ;; SIMD has no gather; the gain over JS is the tight loop.
  (func (export "planes") (param $src i32) (param $n i32) (param $channels i32) (param $lut i32) (param $out i32)
    (local $c i32) (local $i i32) (local $o i32) (local $end i32)
    (block $done
      (loop $channel
        (br_if $done (i32.ge_u (local.get $c) (local.get $channels)))
        (local.set $i (i32.add (local.get $src) (local.get $c)))
        (local.set $end (i32.add (local.get $out) (i32.shl (local.get $n) (i32.const 2))))
        (block $planeDone
          (loop $pixel
            (br_if $planeDone (i32.ge_u (local.get $out) (local.get $end)))
            (f32.store (local.get $out) (f32.load (i32.add (local.get $lut)
              (i32.shl (i32.load8_u (local.get $i)) (i32.const 2)))))
            (local.set $i (i32.add (local.get $i) (local.get $channels)))
            (local.set $out (i32.add (local.get $out) (i32.const 4)))
            (br $pixel)))
        (local.set $lut (i32.add (local.get $lut) (i32.const 1024)))
        (local.set $c (i32.add (local.get $c) (i32.const 1)))
        (br $channel))))
)
