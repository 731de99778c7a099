import assert from "node:assert/strict";
import QRCode from "qrcode";
import { AppError } from "../../../src/core/errors.ts";
import { badgeColor, escapeXml, qrPng, qrSvg } from "../../../src/core/qr.ts";

const CONF = [
  "[Interface]",
  "PrivateKey = cIn2ORKBkmvsaFBkuPS74qrCoOql1Aa7nH5g7YXbIFg=",
  "Address = 10.13.13.2/32, fd42::2/128",
  "DNS = 10.13.13.1",
  "",
  "[Peer]",
  "PublicKey = 83lqNFkF+nmIODGCmWK6XmFMrqS6fzFKD6A09e4EAD0=",
  "PresharedKey = AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
  "AllowedIPs = 0.0.0.0/0, ::/0",
  "Endpoint = fra.example.net:51820",
  "PersistentKeepalive = 25",
  "",
].join("\n");

function viewBox(svg: string): { width: number; height: number } {
  const m = /viewBox="0 0 (\d+) (\d+)"/.exec(svg);
  assert.ok(m !== null, "has a viewBox");
  return { width: Number(m[1]), height: Number(m[2]) };
}

Deno.test("qrSvg() of a local peer is the plain code with no badge", async () => {
  const svg = await qrSvg(CONF);
  assert.equal(svg, await QRCode.toString(CONF, { type: "svg", errorCorrectionLevel: "M", margin: 2 }));
  assert.ok(!svg.includes("<text") && !svg.includes("<rect"));
  assert.equal(await qrSvg(CONF, { badge: null }), svg);
  const { width, height } = viewBox(svg);
  assert.equal(width, height);
});

Deno.test("qrSvg() puts the node badge below the unchanged code", async () => {
  const plain = await qrSvg(CONF);
  const svg = await qrSvg(CONF, { badge: { label: "Frankfurt" } });
  const inner = plain.slice(plain.indexOf(">") + 1, plain.lastIndexOf("</svg>"));
  assert.ok(svg.includes(inner), "every module path of the plain code is kept as is");
  const side = viewBox(plain).width;
  const { width, height } = viewBox(svg);
  assert.equal(width, side);
  assert.ok(height > side, "the image grows downwards for the badge");
  const rect = /<rect x="([\d.]+)" y="([\d.]+)" width="([\d.]+)" height="([\d.]+)"/.exec(svg);
  assert.ok(rect !== null);
  assert.ok(Number(rect[2]) >= side, "the badge starts below the code and its quiet zone");
  assert.ok(Number(rect[2]) + Number(rect[4]) <= height);
  assert.match(svg, />Frankfurt<\/text>/);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" /);
  assert.ok(svg.endsWith("</svg>\n"));
});

const LABELS: { label: string; text: string; absent: string[] }[] = [
  { label: "NYC-01", text: "NYC-01", absent: [] },
  { label: "Frankfurt & <NYC>", text: "Frankfurt &amp; &lt;NYC&gt;", absent: ["<NYC>", "& <"] },
  {
    label: '"><script>alert(1)</script>',
    text: "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
    absent: ["<script", '"><script'],
  },
  { label: "it's\u0000 a\u0007 node", text: "it&apos;s a node", absent: ["\u0000", "\u0007"] },
  { label: "  Tokyo\n  East  ", text: "Tokyo East", absent: ["\n  East"] },
];

for (const c of LABELS) {
  Deno.test(`qrSvg() writes the badge label ${JSON.stringify(c.label)} XML-escaped`, async () => {
    const svg = await qrSvg(CONF, { badge: { label: c.label } });
    assert.ok(svg.includes(`>${c.text}</text>`), svg.slice(-400));
    assert.ok(svg.includes(`aria-label="${c.text}"`));
    for (const bad of c.absent) assert.ok(!svg.includes(bad), `must not contain ${JSON.stringify(bad)}`);
  });
}

Deno.test("qrSvg() shortens a very long label and squeezes it into the badge", async () => {
  // A short text gives the smallest code (25 modules wide), so 32 characters need squeezing.
  const svg = await qrSvg("x", { badge: { label: "x".repeat(200) } });
  assert.ok(svg.includes(`>${"x".repeat(29)}...</text>`));
  assert.match(svg, /textLength="\d+" lengthAdjust="spacingAndGlyphs"/);
  assert.ok(!(await qrSvg("x", { badge: { label: "Paris" } })).includes("textLength"));
});

Deno.test("qrSvg() gives a blank label no badge", async () => {
  assert.equal(await qrSvg(CONF, { badge: { label: " \n " } }), await qrSvg(CONF));
});

Deno.test("qrSvg() colours the badge from the name, the same way every time", async () => {
  const svg = await qrSvg(CONF, { badge: { label: "Frankfurt" } });
  assert.ok(svg.includes(`fill="${badgeColor("Frankfurt")}"`));
  assert.equal(badgeColor("Frankfurt"), badgeColor("Frankfurt"));
  const names = ["Frankfurt", "NYC-01", "Tokyo", "Sydney", "edge-1", "edge-2"];
  const colours = names.map(badgeColor);
  for (const c of colours) assert.match(c, /^#[0-9a-f]{6}$/);
  assert.ok(new Set(colours).size >= 5, `names should mostly get distinct colours: ${colours}`);
});

Deno.test("qrSvg() uses a given colour and picks readable text on it", async () => {
  const dark = await qrSvg(CONF, { badge: { label: "Frankfurt", color: "#1F6FEB" } });
  assert.ok(dark.includes('fill="#1f6feb"'));
  assert.match(dark, /<text [^>]*fill="#ffffff"/);
  const light = await qrSvg(CONF, { badge: { label: "Frankfurt", color: "#ff0" } });
  assert.ok(light.includes('fill="#ff0"'));
  assert.match(light, /<text [^>]*fill="#000000"/);
});

for (const color of ['red" onload="alert(1)', "red", "#12345", "url(#x)", ""]) {
  Deno.test(`qrSvg() refuses the badge colour ${JSON.stringify(color)}`, async () => {
    await assert.rejects(() => qrSvg(CONF, { badge: { label: "x", color } }), (err: unknown) => {
      assert.ok(err instanceof AppError);
      assert.equal(err.code, "validation");
      assert.deepEqual(err.fields.map((f) => f.field), ["color"]);
      return true;
    });
  });
}

const ESCAPES: [string, string][] = [
  ["plain", "plain"],
  ["a & b", "a &amp; b"],
  ["<tag attr='v'>", "&lt;tag attr=&apos;v&apos;&gt;"],
  ['say "hi"', "say &quot;hi&quot;"],
  ["&amp;", "&amp;amp;"],
  ["bell\u0007 nul\u0000 ok\ttab", "bell nul ok\ttab"],
  ["lone \uD800 surrogate", "lone  surrogate"],
  ["emoji \u{1F30D} stays", "emoji \u{1F30D} stays"],
];

for (const [input, output] of ESCAPES) {
  Deno.test(`escapeXml(${JSON.stringify(input)}) is ${JSON.stringify(output)}`, () => {
    assert.equal(escapeXml(input), output);
  });
}

// A minimal PNG reader for what qrPng() writes: 8-bit indexed colour, filter type 0.
type Png = { width: number; height: number; palette: number[][]; pixels: Uint8Array; chunks: string[] };

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

async function readPng(png: Uint8Array): Promise<Png> {
  assert.deepEqual(
    [...png.subarray(0, 8)],
    [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a],
    "PNG signature",
  );
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  const chunks: string[] = [];
  let width = 0, height = 0, palette: number[][] = [];
  const idat: Uint8Array[] = [];
  for (let at = 8; at < png.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...png.subarray(at + 4, at + 8));
    const data = png.subarray(at + 8, at + 8 + length);
    assert.equal(
      view.getUint32(at + 8 + length),
      crc32(png.subarray(at + 4, at + 8 + length)),
      `${type} CRC`,
    );
    chunks.push(type);
    if (type === "IHDR") {
      [width, height] = [view.getUint32(at + 8), view.getUint32(at + 12)];
      assert.deepEqual([...data.subarray(8)], [8, 3, 0, 0, 0], "8-bit indexed, not interlaced");
    }
    if (type === "PLTE") {
      palette = Array.from({ length: length / 3 }, (_, i) => [...data.subarray(i * 3, i * 3 + 3)]);
    }
    if (type === "IDAT") idat.push(data);
    at += 12 + length;
  }
  const stream = new Blob(idat as Uint8Array<ArrayBuffer>[]).stream().pipeThrough(
    new DecompressionStream("deflate"),
  );
  const raw = new Uint8Array(await new Response(stream).arrayBuffer());
  assert.equal(raw.length, height * (width + 1));
  const pixels = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    assert.equal(raw[y * (width + 1)], 0, "filter type 0");
    pixels.set(raw.subarray(y * (width + 1) + 1, (y + 1) * (width + 1)), y * width);
  }
  return { width, height, palette, pixels, chunks };
}

Deno.test("qrPng() of a local peer is a PNG of exactly the code's modules", async () => {
  const png = await readPng(await qrPng(CONF));
  const { size, data } = QRCode.create(CONF, { errorCorrectionLevel: "M" }).modules;
  assert.deepEqual(png.chunks, ["IHDR", "PLTE", "IDAT", "IEND"]);
  assert.equal(png.width, (size + 4) * 8);
  assert.equal(png.height, png.width);
  assert.deepEqual(png.palette, [[255, 255, 255], [0, 0, 0]]);
  for (let row = 0; row < size + 4; row++) {
    for (let col = 0; col < size + 4; col++) {
      const inside = row >= 2 && row < size + 2 && col >= 2 && col < size + 2;
      const dark = inside && data[(row - 2) * size + (col - 2)] === 1;
      for (const [dy, dx] of [[0, 0], [7, 7], [3, 4]]) {
        assert.equal(
          png.pixels[(row * 8 + dy) * png.width + col * 8 + dx],
          dark ? 1 : 0,
          `module ${row},${col}`,
        );
      }
    }
  }
});

Deno.test("qrPng() draws the badge bar with its text below the code, never over it", async () => {
  const png = await readPng(await qrPng(CONF, { badge: { label: "Frankfurt", color: "#1f6feb" } }));
  const plain = await readPng(await qrPng(CONF));
  assert.equal(png.width, plain.width);
  assert.ok(png.height > png.width && png.height <= png.width * 1.5, `plausible height ${png.height}`);
  assert.deepEqual(png.palette, [[255, 255, 255], [0, 0, 0], [0x1f, 0x6f, 0xeb], [255, 255, 255]]);
  const codeArea = png.width * png.width;
  assert.deepEqual(
    png.pixels.subarray(0, codeArea),
    plain.pixels,
    "the code and its quiet zone are untouched",
  );
  const badge = png.pixels.subarray(codeArea);
  const count = (index: number) => badge.filter((p) => p === index).length;
  assert.equal(count(1), 0, "no black below the code");
  assert.ok(count(2) > badge.length / 2, "mostly badge colour");
  assert.ok(count(3) > 100, "label text is drawn");
});

Deno.test("qrPng() draws different labels differently and derives the colour from the name", async () => {
  const a = await readPng(await qrPng(CONF, { badge: { label: "NYC-01" } }));
  const b = await readPng(await qrPng(CONF, { badge: { label: "LON-02" } }));
  const hex = badgeColor("NYC-01");
  assert.deepEqual(a.palette[2], [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)));
  assert.notDeepEqual(a.pixels, b.pixels);
});

Deno.test("qrPng() fits a long label by shrinking or cutting it, inside the bar", async () => {
  const png = await readPng(await qrPng("x", { badge: { label: "W".repeat(32) }, scale: 2 }));
  const codeArea = png.width * png.width;
  for (let y = png.width; y < png.height; y++) {
    for (const x of [0, 1, 2, 3, png.width - 4, png.width - 3, png.width - 2, png.width - 1]) {
      assert.notEqual(png.pixels[y * png.width + x], 3, `text pixel in the margin at ${x},${y}`);
    }
  }
  assert.ok(png.pixels.subarray(codeArea).some((p) => p === 3));
});

Deno.test("qrPng() honours the scale and refuses a silly one", async () => {
  const { size } = QRCode.create(CONF, { errorCorrectionLevel: "M" }).modules;
  const png = await readPng(await qrPng(CONF, { scale: 3 }));
  assert.equal(png.width, (size + 4) * 3);
  await assert.rejects(() => qrPng(CONF, { scale: 0 }), RangeError);
  await assert.rejects(() => qrPng(CONF, { scale: 1.5 }), RangeError);
  await assert.rejects(() => qrPng(CONF, { scale: 100 }), RangeError);
});
