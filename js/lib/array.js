// Arrays from Python (interpwidgets.transport.encode): {dtype, shape, buffer}. float16 arrives as
// float16 (half the bytes) and is widened here, once, through a table of all 65,536 values.
const TYPES = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
                uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };

let HALF = null;  // float16 bits -> float32 value

function halfTable() {
  if (HALF) return HALF;
  HALF = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
    HALF[h] = exp === 0 ? sign * 2 ** -14 * (frac / 1024)  // subnormal
      : exp === 31 ? (frac ? NaN : sign * Infinity)
        : sign * 2 ** (exp - 15) * (1 + frac / 1024);
  }
  return HALF;
}

function typed(Type, view) {
  const aligned = view.byteOffset % Type.BYTES_PER_ELEMENT === 0;
  return aligned ? new Type(view.buffer, view.byteOffset, view.byteLength / Type.BYTES_PER_ELEMENT)
    : new Type(new Uint8Array(view.buffer, view.byteOffset, view.byteLength).slice().buffer);
}

/** Decode a payload into {data: TypedArray, shape: number[]} (no copy, except to widen float16). */
export function decode(payload) {
  const view = payload.buffer;
  if (payload.dtype === "float16") {
    const bits = typed(Uint16Array, view), table = halfTable(), data = new Float32Array(bits.length);
    for (let i = 0; i < bits.length; i++) data[i] = table[bits[i]];
    return { data, shape: payload.shape };
  }
  const Type = TYPES[payload.dtype];
  if (!Type) throw new Error(`unsupported dtype ${payload.dtype}`);
  return { data: typed(Type, view), shape: payload.shape };
}
