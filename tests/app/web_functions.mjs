// Calls functions of private mode's browser code (lesion/web) with Node, for tests/app/test_private_mode.py to compare
// with the server's Python: `node tests/app/web_functions.mjs calls.json` prints one JSON result per call.
//
// A call is {"module": "preprocess" | "result", "function": name, "args": [...]}. An argument or result that is an
// image travels as {"width", "height", "rgb": base64}; a typed array as a plain list.

import { readFileSync } from "node:fs";
import * as preprocess from "../../lesion/web/preprocess.js";
import * as result from "../../lesion/web/result.js";

const modules = { preprocess, result };

function decodeArgument(value) {
  if (value && typeof value === "object" && "rgb" in value) {
    return preprocess.image(value.width, value.height, new Uint8Array(Buffer.from(value.rgb, "base64")));
  }
  return value;
}

function encodeResult(value) {
  if (value && typeof value === "object" && value.data instanceof Uint8Array && "width" in value) {
    return { width: value.width, height: value.height, rgb: Buffer.from(value.data).toString("base64") };
  }
  if (ArrayBuffer.isView(value)) return Array.from(value);
  if (value && typeof value === "object" && !Array.isArray(value)) {
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, encodeResult(item)]));
  }
  return value;
}

const calls = JSON.parse(readFileSync(process.argv[2], "utf8"));
const results = calls.map((call) => encodeResult(modules[call.module][call.function](...call.args.map(decodeArgument))));
process.stdout.write(JSON.stringify(results));
