// Colour scales and a canvas heatmap that stays fast for large matrices (one ImageData, no DOM per cell).

const BLUES = [[247, 251, 255], [198, 219, 239], [107, 174, 214], [33, 113, 181], [8, 48, 107]];
const NAN_RGB = [230, 85, 13];  // NaN is shown, in orange, not hidden

function table(stops) {
  const lut = new Uint8ClampedArray(256 * 3);
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * (stops.length - 1);
    const j = Math.min(Math.floor(x), stops.length - 2);
    const f = x - j;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = stops[j][c] + f * (stops[j + 1][c] - stops[j][c]);
  }
  return lut;
}
export const blues = table(BLUES);

export function cssColour(value, vmax = 1, lut = blues) {
  if (!Number.isFinite(value)) return `rgb(${NAN_RGB})`;
  const i = Math.max(0, Math.min(255, Math.round((value / vmax) * 255)));
  return `rgb(${lut[i * 3]},${lut[i * 3 + 1]},${lut[i * 3 + 2]})`;
}

/** Paint a rows x cols matrix (row-major data) into a canvas, one cell per pixel, scaled by CSS. */
export function paint(canvas, data, rows, cols, { vmax = 1, lut = blues } = {}) {
  canvas.width = cols;
  canvas.height = rows;
  const ctx = canvas.getContext("2d");
  const img = ctx.createImageData(cols, rows);
  for (let k = 0; k < rows * cols; k++) {
    const v = data[k];
    let r, g, b;
    if (Number.isFinite(v)) {
      const i = Math.max(0, Math.min(255, Math.round((v / vmax) * 255))) * 3;
      r = lut[i]; g = lut[i + 1]; b = lut[i + 2];
    } else {
      [r, g, b] = NAN_RGB;
    }
    img.data[k * 4] = r; img.data[k * 4 + 1] = g; img.data[k * 4 + 2] = b; img.data[k * 4 + 3] = 255;
  }
  ctx.putImageData(img, 0, 0);
  canvas.style.imageRendering = "pixelated";
}
