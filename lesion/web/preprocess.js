// The server's preprocessing (lesion/preprocess.py) for private mode, step by step and to the same integer
// arithmetic: after a full decode (the browser's own, as the server's), whole-factor reduction as Pillow's
// Image.reduce, a quarter turn for portraits, the centre crop and
// Pillow's LANCZOS resize, Shades of Gray colour constancy in float32 as NumPy computes it, and (x - mean) / std.
// Everything but `decode` is plain arithmetic on typed arrays, so Node checks it against Pillow
// (tests/app/test_private_mode.py) and the browser runs exactly that.
//
// An image here is {width, height, data}: data holds width * height RGB triplets, row by row, as a Uint8Array.

const PRECISION_BITS = 22; // Pillow's fixed-point precision for 8-bit resampling (Resample.c: 32 - 8 - 2)
const LANCZOS_SUPPORT = 3;

export function image(width, height, data = new Uint8Array(width * height * 3)) {
  return { width, height, data };
}

/** Python's round(): halves go to the even neighbour. */
export function roundHalfEven(x) {
  const floor = Math.floor(x);
  const fraction = x - floor;
  if (fraction !== 0.5) return Math.round(x);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** lesion.preprocess._reduction_factor: the largest whole factor that keeps the image reducingGap times the input. */
export function reductionFactor(width, height, spec, reducingGap) {
  const long = Math.max(width, height), short = Math.min(width, height);
  return Math.max(1, Math.min(Math.floor(long / (reducingGap * Math.max(spec.width, spec.height))),
                              Math.floor(short / (reducingGap * Math.min(spec.width, spec.height)))));
}

/** Pillow's division_UINT32(n, 8): the fixed-point reciprocal of a block of n pixels, in float32 as Reduce.c has it. */
function reciprocal(n) {
  return Math.trunc(Math.fround(2 ** 32 / Math.fround(256 * n)));
}

/** Image.reduce(factor): each output pixel the rounded mean of its factor x factor block; the blocks of the last
 * column and row hold what is left of the image, as Pillow's ImagingReduceCorners averages them. */
export function reduce(source, factor) {
  if (factor === 1) return source;
  const { width, height, data } = source;
  const out = image(Math.ceil(width / factor), Math.ceil(height / factor));
  for (let y = 0; y < out.height; y++) {
    const top = y * factor, bottom = Math.min(top + factor, height);
    for (let x = 0; x < out.width; x++) {
      const left = x * factor, right = Math.min(left + factor, width);
      const n = (bottom - top) * (right - left);
      const multiplier = reciprocal(n), amend = Math.floor(n / 2);
      for (let c = 0; c < 3; c++) {
        let sum = amend;
        for (let yy = top; yy < bottom; yy++) {
          for (let xx = left; xx < right; xx++) sum += data[(yy * width + xx) * 3 + c];
        }
        out.data[(y * out.width + x) * 3 + c] = Math.floor((sum * multiplier) / 2 ** 24);
      }
    }
  }
  return out;
}

/** Image.transpose(ROTATE_90): a quarter turn anticlockwise. */
export function rotate90(source) {
  const { width, height, data } = source;
  const out = image(height, width);
  for (let y = 0; y < out.height; y++) {
    for (let x = 0; x < out.width; x++) {
      const from = (x * width + (width - 1 - y)) * 3, to = (y * out.width + x) * 3;
      out.data[to] = data[from];
      out.data[to + 1] = data[from + 1];
      out.data[to + 2] = data[from + 2];
    }
  }
  return out;
}

/** lesion.preprocess._centre_crop_box: the largest centred box of the given width / height ratio. */
export function centreCropBox(width, height, aspect) {
  if (width / height > aspect) {
    const newWidth = roundHalfEven(height * aspect);
    const left = Math.floor((width - newWidth) / 2);
    return [left, 0, left + newWidth, height];
  }
  const newHeight = roundHalfEven(width / aspect);
  const top = Math.floor((height - newHeight) / 2);
  return [0, top, width, top + newHeight];
}

function sinc(x) {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

function lanczos(x) {
  return -LANCZOS_SUPPORT <= x && x < LANCZOS_SUPPORT ? sinc(x) * sinc(x / LANCZOS_SUPPORT) : 0;
}

/** Resample.c's precompute_coeffs and normalize_coeffs_8bpc: for each output pixel, the first input pixel, the
 * number of input pixels and their fixed-point weights. */
function coefficients(inSize, in0, in1, outSize) {
  const scale = (in1 - in0) / outSize;
  const filterScale = Math.max(scale, 1);
  const support = LANCZOS_SUPPORT * filterScale;
  const kSize = Math.ceil(support) * 2 + 1;
  const weights = new Int32Array(outSize * kSize);
  const bounds = new Int32Array(outSize * 2);
  const raw = new Float64Array(kSize);
  for (let xx = 0; xx < outSize; xx++) {
    const centre = in0 + (xx + 0.5) * scale;
    const xmin = Math.max(0, Math.trunc(centre - support + 0.5));
    const count = Math.min(inSize, Math.trunc(centre + support + 0.5)) - xmin;
    let total = 0;
    for (let x = 0; x < count; x++) {
      raw[x] = lanczos((x + xmin - centre + 0.5) / filterScale);
      total += raw[x];
    }
    for (let x = 0; x < count; x++) {
      const w = total !== 0 ? raw[x] / total : raw[x];
      weights[xx * kSize + x] = Math.trunc(w < 0 ? -0.5 + w * 2 ** PRECISION_BITS : 0.5 + w * 2 ** PRECISION_BITS);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = count;
  }
  return { kSize, weights, bounds };
}

function clip8(sum) {
  if (sum >= 2 ** (PRECISION_BITS + 8)) return 255;
  if (sum <= 0) return 0;
  return Math.floor(sum / 2 ** PRECISION_BITS);
}

/** Image.resize((outWidth, outHeight), LANCZOS, box): Pillow's two passes, each rounded to 8 bits. */
export function resizeLanczos(source, outWidth, outHeight, box) {
  const [x0, y0, x1, y1] = box;
  const horizontal = coefficients(source.width, x0, x1, outWidth);
  const vertical = coefficients(source.height, y0, y1, outHeight);
  const needHorizontal = outWidth !== source.width || x0 !== 0 || x1 !== outWidth;
  const needVertical = outHeight !== source.height || y0 !== 0 || y1 !== outHeight;
  let current = source;
  if (needHorizontal) {
    const first = vertical.bounds[0];
    const last = vertical.bounds[outHeight * 2 - 2] + vertical.bounds[outHeight * 2 - 1];
    for (let y = 0; y < outHeight; y++) vertical.bounds[y * 2] -= first;
    const pass = image(outWidth, last - first);
    const { kSize, weights, bounds } = horizontal;
    for (let y = 0; y < pass.height; y++) {
      const row = (y + first) * source.width * 3;
      for (let x = 0; x < outWidth; x++) {
        const xmin = bounds[x * 2], count = bounds[x * 2 + 1], k = x * kSize;
        let s0 = 2 ** (PRECISION_BITS - 1), s1 = s0, s2 = s0;
        for (let i = 0; i < count; i++) {
          const w = weights[k + i], at = row + (xmin + i) * 3;
          s0 += source.data[at] * w;
          s1 += source.data[at + 1] * w;
          s2 += source.data[at + 2] * w;
        }
        const to = (y * outWidth + x) * 3;
        pass.data[to] = clip8(s0);
        pass.data[to + 1] = clip8(s1);
        pass.data[to + 2] = clip8(s2);
      }
    }
    current = pass;
  }
  if (!needVertical) return current;
  const out = image(current.width, outHeight);
  const { kSize, weights, bounds } = vertical;
  for (let y = 0; y < outHeight; y++) {
    const ymin = bounds[y * 2], count = bounds[y * 2 + 1], k = y * kSize;
    for (let x = 0; x < current.width; x++) {
      let s0 = 2 ** (PRECISION_BITS - 1), s1 = s0, s2 = s0;
      for (let i = 0; i < count; i++) {
        const w = weights[k + i], at = ((ymin + i) * current.width + x) * 3;
        s0 += current.data[at] * w;
        s1 += current.data[at + 1] * w;
        s2 += current.data[at + 2] * w;
      }
      const to = (y * current.width + x) * 3;
      out.data[to] = clip8(s0);
      out.data[to + 1] = clip8(s1);
      out.data[to + 2] = clip8(s2);
    }
  }
  return out;
}

/** lesion.preprocess.fit_to_input: portrait turned to landscape (or the reverse, for a portrait input), centre
 * crop to the input's aspect ratio, LANCZOS resize to the input's size. */
export function fitToInput(source, spec) {
  let current = source;
  if ((current.height > current.width) !== (spec.height > spec.width) && current.height !== current.width) {
    current = rotate90(current);
  }
  const box = centreCropBox(current.width, current.height, spec.width / spec.height);
  const whole = box[0] === 0 && box[1] === 0 && box[2] === current.width && box[3] === current.height;
  if (!whole || current.width !== spec.width || current.height !== spec.height) {
    current = resizeLanczos(current, spec.width, spec.height, box);
  }
  return current;
}

/** lesion.preprocess.shades_of_gray, in float32 as NumPy computes it: each channel's Minkowski p-mean is the
 * light's colour, and each channel is scaled so that all three equal their mean. */
export function shadesOfGray(source, power) {
  const f = Math.fround;
  const { data } = source;
  const count = data.length / 3;
  const light = [0, 1, 2].map((c) => {
    let sum = 0;
    for (let i = c; i < data.length; i += 3) sum = f(sum + f(data[i] ** power));
    return f(f(f(sum / count) ** f(1 / power)));
  });
  const mean = f(f(f(light[0] + light[1]) + light[2]) / 3);
  const gains = light.map((value) => f(mean / Math.max(value, f(1e-6))));
  const out = image(source.width, source.height);
  for (let i = 0; i < data.length; i++) {
    const value = f(f(data[i] * gains[i % 3]) + 0.5);
    out.data[i] = Math.min(255, Math.max(0, Math.trunc(value)));
  }
  return out;
}

/** lesion.preprocess.correct_colour: the spec's colour constancy step. */
export function correctColour(source, spec, power) {
  return spec.colour_constancy === "shades_of_gray" ? shadesOfGray(source, power) : source;
}

/** lesion.preprocess.colour_spread: the mean over pixels of the largest difference between their channels, in 8-bit
 * levels (0 for a grey image). */
export function colourSpread(source) {
  let total = 0;
  for (let i = 0; i < source.data.length; i += 3) {
    const r = source.data[i], g = source.data[i + 1], b = source.data[i + 2];
    total += Math.max(r, g, b) - Math.min(r, g, b);
  }
  return total / (source.data.length / 3);
}

/** lesion.preprocess.normalise: (pixels - mean) / std as the model's float32 input. */
export function normalise(source, spec) {
  const out = new Float32Array(source.data.length);
  for (let i = 0; i < out.length; i++) out[i] = (source.data[i] - spec.mean) / spec.std;
  return out;
}

/** lesion.classifier.VIEWS on one (height, width, 3) float32 input. */
export function view(input, name, height, width) {
  if (name === "identity") return input;
  const flipRows = name === "flip_up_down" || name === "rotate_180";
  const flipColumns = name === "flip_left_right" || name === "rotate_180";
  if (!flipRows && !flipColumns) throw new Error(`unknown test-time view ${name}`);
  const out = new Float32Array(input.length);
  for (let y = 0; y < height; y++) {
    const fromY = flipRows ? height - 1 - y : y;
    for (let x = 0; x < width; x++) {
      const fromX = flipColumns ? width - 1 - x : x;
      for (let c = 0; c < 3; c++) out[(y * width + x) * 3 + c] = input[(fromY * width + fromX) * 3 + c];
    }
  }
  return out;
}

/** From a decoded RGB image to the model's input: {pixels (what the model saw, before colour correction), corrected
 * (after it), input}. */
export function prepare(decoded, spec, { reducingGap, shadesOfGrayPower }) {
  const reduced = reduce(decoded, reductionFactor(decoded.width, decoded.height, spec, reducingGap));
  const pixels = fitToInput(reduced, spec);
  const corrected = correctColour(pixels, spec, shadesOfGrayPower);
  return { pixels, corrected, input: normalise(corrected, spec) };
}

/** The format, width and height a file's header states, read before anything is decoded, for the formats the server
 * opens (lesion.preprocess.FORMATS: JPEG, PNG, WebP, GIF, BMP); null for any other file. `bytes`: the file, as a
 * Uint8Array (or any array of bytes). */
export function headerSize(bytes) {
  const b = bytes instanceof Uint8Array ? bytes : Uint8Array.from(bytes);
  const be16 = (i) => (b[i] << 8) | b[i + 1];
  const le16 = (i) => b[i] | (b[i + 1] << 8);
  const be32 = (i) => ((b[i] << 24) >>> 0) + ((b[i + 1] << 16) | (b[i + 2] << 8) | b[i + 3]);
  const le32 = (i) => (b[i] | (b[i + 1] << 8) | (b[i + 2] << 16)) + ((b[i + 3] << 24) >>> 0);
  const ascii = (i, n) => String.fromCharCode(...b.subarray(i, i + n));
  const sized = (format, width, height) => (width > 0 && height > 0 ? { format, width, height } : null);
  if (b.length >= 24 && be32(0) === 0x89504e47 && be32(4) === 0x0d0a1a0a && ascii(12, 4) === "IHDR") {
    return sized("PNG", be32(16), be32(20));
  }
  if (b.length >= 10 && (ascii(0, 6) === "GIF87a" || ascii(0, 6) === "GIF89a")) return sized("GIF", le16(6), le16(8));
  if (b.length >= 26 && ascii(0, 2) === "BM") {
    if (le32(14) === 12) return sized("BMP", le16(18), le16(20));
    return sized("BMP", le32(18) | 0, Math.abs(le32(22) | 0));
  }
  if (b.length >= 30 && ascii(0, 4) === "RIFF" && ascii(8, 4) === "WEBP") {
    const chunk = ascii(12, 4);
    if (chunk === "VP8 ") return sized("WEBP", le16(26) & 0x3fff, le16(28) & 0x3fff);
    if (chunk === "VP8L") {
      const bits = le32(21);
      return sized("WEBP", (bits & 0x3fff) + 1, ((bits >>> 14) & 0x3fff) + 1);
    }
    if (chunk === "VP8X") return sized("WEBP", 1 + (b[24] | (b[25] << 8) | (b[26] << 16)), 1 + (b[27] | (b[28] << 8) | (b[29] << 16)));
    return null;
  }
  if (b.length >= 4 && b[0] === 0xff && b[1] === 0xd8) {
    let i = 2;
    while (i + 9 < b.length) {
      if (b[i] !== 0xff) return null;
      const marker = b[i + 1];
      if (marker === 0xff) { i += 1; continue; } // fill byte
      if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) { i += 2; continue; } // no length
      const isFrame = marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc;
      if (isFrame) return sized("JPEG", be16(i + 7), be16(i + 5));
      if (marker === 0xd9 || marker === 0xda) return null; // end, or scan data before any frame header
      i += 2 + be16(i + 2);
    }
  }
  return null;
}
