// How the points look, shared by the WebGL pass, the Canvas2D fallback and the overlay.

export const FADE = 0.2;  // opacity of the other points while some are highlighted
// Highlighted diameter = d * grow + add, with an outline (CSS px).
export const HL_GROW = 1.6, HL_ADD = 3, HL_LINE = 1.5;
export const OUTLINE = "#222", LINE = "rgb(8,48,107)", GREY = [136, 136, 136, 255];  // highlight rim, lines, default colour
