// Arrays from Python (interpwidgets.transport.encode): {dtype, shape, buffer} or {dtype, shape, chunks}.
const TYPES = { float32: Float32Array, int8: Int8Array, uint8: Uint8Array, int16: Int16Array,
                uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array };

function bytesOf(view) {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

/** Decode a payload into {data: TypedArray, shape: number[]} without copying when it is one buffer. */
export function decode(payload) {
  const Type = TYPES[payload.dtype];
  if (!Type) throw new Error(`unsupported dtype ${payload.dtype}`);
  let view = payload.buffer;
  if (!view) {  // chunks: join them once
    const parts = payload.chunks.map(bytesOf);
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { joined.set(p, at); at += p.length; }
    view = new DataView(joined.buffer);
  }
  const aligned = view.byteOffset % Type.BYTES_PER_ELEMENT === 0;
  const data = aligned
    ? new Type(view.buffer, view.byteOffset, view.byteLength / Type.BYTES_PER_ELEMENT)
    : new Type(bytesOf(view).slice().buffer);
  return { data, shape: payload.shape };
}
