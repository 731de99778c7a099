// QR codes of client configs, as SVG and PNG. A peer served by a node gets a coloured badge with the
// node's name below the code (never over it, so the code stays decodable); a local peer gets none.
// qrcode draws no text, so the SVG badge is composed around its output; the PNG is drawn from the module
// matrix by a small PNG encoder here (deflate through CompressionStream), with a built-in 5x7 font.
import QRCode from "qrcode";
import { AppError } from "./errors.ts";

export type QrBadge = {
  /** The node's name, shown as text in the badge. */
  label: string;
  /** `#rgb` or `#rrggbb`; derived from the label when absent. */
  color?: string;
};

export type QrOptions = {
  /** The serving node's badge; leave out (or null) for a peer of the master itself. */
  badge?: QrBadge | null;
};

export type QrPngOptions = QrOptions & {
  /** Pixels per module, 1-32 (default 8). */
  scale?: number;
};

const ERROR_CORRECTION = "M";
/** Quiet zone around the code, in modules. */
const MARGIN = 2;
/** Badge geometry in modules: white gap under the quiet zone, bar height, white space under the bar. */
const BADGE_GAP = 1;
const BADGE_HEIGHT = 5;
const BADGE_BOTTOM = 1;
const MAX_LABEL = 32;

/** The QR code of `text` as an SVG document, with the node badge under the code when one is given. */
export async function qrSvg(text: string, options: QrOptions = {}): Promise<string> {
  const svg = await QRCode.toString(text, {
    type: "svg",
    errorCorrectionLevel: ERROR_CORRECTION,
    margin: MARGIN,
  });
  const badge = resolveBadge(options.badge);
  return badge === undefined ? svg : addSvgBadge(svg, badge);
}

/** The QR code of `text` as a PNG image, with a coloured badge bar and the label in a bitmap font. */
export async function qrPng(text: string, options: QrPngOptions = {}): Promise<Uint8Array> {
  const scale = options.scale ?? 8;
  if (!Number.isInteger(scale) || scale < 1 || scale > 32) {
    throw new RangeError(`scale must be 1-32: ${scale}`);
  }
  const { size, data } = QRCode.create(text, { errorCorrectionLevel: ERROR_CORRECTION }).modules;
  const badge = resolveBadge(options.badge);
  const side = (size + 2 * MARGIN) * scale;
  const height = side + (badge === undefined ? 0 : (BADGE_GAP + BADGE_HEIGHT + BADGE_BOTTOM) * scale);
  // Palette: 0 white, 1 black, 2 badge colour, 3 badge text.
  const pixels = new Uint8Array(side * height);
  for (let row = 0; row < size; row++) {
    for (let col = 0; col < size; col++) {
      if (!data[row * size + col]) continue;
      const top = (row + MARGIN) * scale, left = (col + MARGIN) * scale;
      for (let y = top; y < top + scale; y++) pixels.fill(1, y * side + left, y * side + left + scale);
    }
  }
  const palette: Rgb[] = [[255, 255, 255], [0, 0, 0]];
  if (badge !== undefined) {
    const fill = hexToRgb(badge.color);
    palette.push(fill, textColorFor(fill));
    const bar = {
      x: MARGIN * scale,
      y: side + BADGE_GAP * scale,
      w: side - 2 * MARGIN * scale,
      h: BADGE_HEIGHT * scale,
    };
    const radius = Math.min(scale, bar.h / 2);
    for (let y = bar.y; y < bar.y + bar.h; y++) {
      for (let x = bar.x; x < bar.x + bar.w; x++) {
        if (insideRoundedRect(x - bar.x + 0.5, y - bar.y + 0.5, bar.w, bar.h, radius)) {
          pixels[y * side + x] = 2;
        }
      }
    }
    drawLabel(pixels, side, bar, badge.label, scale);
  }
  return await encodePng(side, height, palette, pixels);
}

/** A badge colour derived from the name: the same name always gets the same colour. */
export function badgeColor(label: string): string {
  let hash = 0x811c9dc5; // FNV-1a, 32 bit
  for (const ch of label) {
    hash ^= ch.codePointAt(0) as number;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  // Hue from the hash; saturation and lightness fixed so white text stays readable on every colour.
  return rgbToHex(hslToRgb(hash % 360, 0.65, 0.36 + ((hash >>> 9) % 8) / 100));
}

/** Everything outside XML 1.0's Char production (control characters, lone surrogates, U+FFFE/FFFF). */
const XML_INVALID = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text for XML content and attribute values; drops characters XML 1.0 cannot carry. */
export function escapeXml(text: string): string {
  return text.replace(XML_INVALID, "").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;").replace(/'/g, "&apos;");
}

type Badge = { label: string; color: string };
type Rgb = [number, number, number];

const HEX_COLOR = /^#(?:[0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$/;

function resolveBadge(badge: QrBadge | null | undefined): Badge | undefined {
  if (badge === undefined || badge === null) return undefined;
  const chars = [...String(badge.label).replace(/\s+/g, " ").trim()];
  const label = chars.length > MAX_LABEL ? `${chars.slice(0, MAX_LABEL - 3).join("")}...` : chars.join("");
  if (label === "") return undefined;
  if (badge.color !== undefined && !HEX_COLOR.test(badge.color)) {
    throw new AppError("validation", "Invalid badge colour", {
      fields: [{ field: "color", message: "must be a colour like #1f6feb" }],
    });
  }
  return { label, color: (badge.color ?? badgeColor(label)).toLowerCase() };
}

function addSvgBadge(svg: string, badge: Badge): string {
  const viewBox = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  const open = svg.indexOf(">", svg.indexOf("<svg"));
  const close = svg.lastIndexOf("</svg>");
  if (viewBox === null || open < 0 || close < open) {
    throw new AppError("internal", "Unexpected SVG from qrcode");
  }
  const side = Number(viewBox[1]);
  const height = side + BADGE_GAP + BADGE_HEIGHT + BADGE_BOTTOM;
  const bar = { x: MARGIN, y: side + BADGE_GAP, w: side - 2 * MARGIN, h: BADGE_HEIGHT };
  const fontSize = 3;
  // Roughly 0.6 em per character in a bold sans-serif: squeeze long names into the bar.
  const room = bar.w - 2;
  const squeeze = [...badge.label].length * fontSize * 0.6 > room
    ? ` textLength="${room}" lengthAdjust="spacingAndGlyphs"`
    : "";
  const label = escapeXml(badge.label);
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${side} ${height}" shape-rendering="crispEdges" ` +
    `role="img" aria-label="${label}">`,
    `<path fill="#ffffff" d="M0 0h${side}v${height}H0z"/>`,
    svg.slice(open + 1, close),
    `<rect x="${bar.x}" y="${bar.y}" width="${bar.w}" height="${bar.h}" rx="1" fill="${badge.color}"` +
    ` shape-rendering="geometricPrecision"/>`,
    `<text x="${side / 2}" y="${bar.y + bar.h / 2}" fill="${
      rgbToHex(textColorFor(hexToRgb(badge.color)))
    }" ` +
    `font-family="DejaVu Sans, Arial, Helvetica, sans-serif" font-size="${fontSize}" font-weight="bold" ` +
    `text-anchor="middle" dominant-baseline="central"${squeeze}>${label}</text>`,
    "</svg>\n",
  ].join("");
}

function insideRoundedRect(x: number, y: number, w: number, h: number, r: number): boolean {
  const dx = Math.max(r - x, x - (w - r), 0);
  const dy = Math.max(r - y, y - (h - r), 0);
  return dx * dx + dy * dy <= r * r;
}

function hexToRgb(hex: string): Rgb {
  const h = hex.length === 4 ? hex.slice(1).replace(/./g, "$&$&") : hex.slice(1);
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

function rgbToHex(rgb: Rgb): string {
  return `#${rgb.map((c) => c.toString(16).padStart(2, "0")).join("")}`;
}

function hslToRgb(hue: number, s: number, l: number): Rgb {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + hue / 30) % 12;
    return Math.round(255 * (l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1))));
  };
  return [f(0), f(8), f(4)];
}

/** White or black, whichever contrasts more with the fill (WCAG relative luminance). */
function textColorFor(rgb: Rgb): Rgb {
  const [r, g, b] = rgb.map((c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  });
  const luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b;
  return (1.05) / (luminance + 0.05) >= (luminance + 0.05) / 0.05 ? [255, 255, 255] : [0, 0, 0];
}

// A 5x7 bitmap font: seven rows of five bits per glyph, as hex bytes. Lower case is drawn as upper case;
// accents are dropped; anything else is drawn as "?".
const FONT: Record<string, string> = {
  "A": "0e11111f111111",
  "B": "1e11111e11111e",
  "C": "0e11101010110e",
  "D": "1c12111111121c",
  "E": "1f10101e10101f",
  "F": "1f10101e101010",
  "G": "0e11101711110f",
  "H": "1111111f111111",
  "I": "0e04040404040e",
  "J": "0702020202120c",
  "K": "11121418141211",
  "L": "1010101010101f",
  "M": "111b1515111111",
  "N": "11111915131111",
  "O": "0e11111111110e",
  "P": "1e11111e101010",
  "Q": "0e11111115120d",
  "R": "1e11111e141211",
  "S": "0f10100e01011e",
  "T": "1f040404040404",
  "U": "1111111111110e",
  "V": "11111111110a04",
  "W": "1111111515150a",
  "X": "11110a040a1111",
  "Y": "1111110a040404",
  "Z": "1f01020408101f",
  "0": "0e11131519110e",
  "1": "040c040404040e",
  "2": "0e11010204081f",
  "3": "1f02040201110e",
  "4": "02060a121f0202",
  "5": "1f101e0101110e",
  "6": "0608101e11110e",
  "7": "1f010204080808",
  "8": "0e11110e11110e",
  "9": "0e11110f01020c",
  " ": "00000000000000",
  "-": "0000001f000000",
  "_": "0000000000001f",
  ".": "00000000000c0c",
  ",": "000000000c0408",
  ":": "000c0c000c0c00",
  "/": "00010204081000",
  "(": "02040808080402",
  ")": "08040202020408",
  "+": "0004041f040400",
  "!": "04040404040004",
  "?": "0e110102040004",
  "#": "0a0a1f0a1f0a0a",
  "&": "0c12140815120d",
  "'": "0c040800000000",
  "@": "0e11010d15150e",
};

function glyphFor(ch: string): string {
  const plain = ch.normalize("NFKD").replace(/\p{M}+/gu, "").toUpperCase();
  return FONT[plain.length === 1 ? plain : "?"] ?? FONT["?"];
}

/** Draws the label centred in the bar in palette colour 3, as large as fits (dropping characters if needed). */
function drawLabel(
  pixels: Uint8Array,
  width: number,
  bar: { x: number; y: number; w: number; h: number },
  label: string,
  scale: number,
): void {
  const room = bar.w - 2 * scale;
  let chars = [...label];
  let dot = Math.max(1, Math.floor((bar.h * 0.6) / 7));
  const textWidth = (n: number, d: number) => (n * 6 - 1) * d;
  while (dot > 1 && textWidth(chars.length, dot) > room) dot--;
  if (textWidth(chars.length, dot) > room) {
    const fit = Math.max(0, Math.floor((room / dot + 1) / 6));
    chars = fit > 3 ? [...chars.slice(0, fit - 3), ".", ".", "."] : chars.slice(0, fit);
  }
  const left = bar.x + Math.floor((bar.w - textWidth(chars.length, dot)) / 2);
  const top = bar.y + Math.floor((bar.h - 7 * dot) / 2);
  chars.forEach((ch, index) => {
    const glyph = glyphFor(ch);
    for (let row = 0; row < 7; row++) {
      const bits = parseInt(glyph.slice(row * 2, row * 2 + 2), 16);
      for (let col = 0; col < 5; col++) {
        if (!(bits & (0x10 >> col))) continue;
        const x0 = left + (index * 6 + col) * dot, y0 = top + row * dot;
        for (let y = y0; y < y0 + dot; y++) pixels.fill(3, y * width + x0, y * width + x0 + dot);
      }
    }
  });
}

// PNG: 8-bit indexed colour, one IDAT, filter type 0 on every row.
const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

async function zlibDeflate(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
    new CompressionStream("deflate"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function encodePng(
  width: number,
  height: number,
  palette: Rgb[],
  pixels: Uint8Array,
): Promise<Uint8Array> {
  const header = new Uint8Array(13);
  const view = new DataView(header.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  header.set([8, 3, 0, 0, 0], 8); // bit depth 8, indexed colour, deflate, adaptive filtering, no interlace
  const raw = new Uint8Array(height * (width + 1));
  for (let y = 0; y < height; y++) raw.set(pixels.subarray(y * width, (y + 1) * width), y * (width + 1) + 1);
  const parts = [
    new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", header),
    chunk("PLTE", new Uint8Array(palette.flat())),
    chunk("IDAT", await zlibDeflate(raw)),
    chunk("IEND", new Uint8Array(0)),
  ];
  const png = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    png.set(p, offset);
    offset += p.length;
  }
  return png;
}
