// JS values -> JSON text for the WASM module.
//
// A JS value can hold what JSON cannot (NaN, undefined, functions, Dates,
// lone UTF-16 surrogates, cycles), and JSON.stringify would silently turn
// most of those into something else. So the value is walked first, in
// document order (depth first, own enumerable string keys in property order),
// and the first problem found is thrown with the same code the Python package
// reports for the equivalent Python value. Only then does JSON.stringify
// produce the text, which the core parses strictly (and canonicalises).

import { ProofMessengerError } from "./errors.js";

/** Default nesting limit, the core's Limits::DEFAULT.max_depth. */
export const DEFAULT_MAX_DEPTH = 32;

const objectProto = Object.prototype;

function describe(value) {
  if (value === undefined) return "undefined";
  if (typeof value === "function") return "a function";
  if (typeof value !== "object") return `a ${typeof value}`;
  const name = Object.getPrototypeOf(value)?.constructor?.name;
  return name ? `a ${name}` : "an exotic object";
}

// String.prototype.isWellFormed is in Node 20 and every current browser; the
// fallback matches it for older engines.
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
export const wellFormed =
  typeof "".isWellFormed === "function"
    ? (s) => s.isWellFormed()
    : (s) => !LONE_SURROGATE.test(s);

// The keys and indexes leading to the value being checked. The first walk
// records nothing (`trail` is null) and stops at the first problem; only then
// is the value walked again with a trail, to spell out where the problem is.
let trail = null;

function where() {
  let path = "$";
  for (const step of trail) path += typeof step === "number" ? `[${step}]` : `.${step}`;
  return path;
}

class Found extends Error {}
const FOUND = new Found();

function fail(code, detail) {
  if (trail === null) throw FOUND;
  throw new ProofMessengerError(code, `${where()}: ${detail}`);
}

function check(value, depth, maxDepth) {
  switch (typeof value) {
    case "string":
      if (!wellFormed(value)) fail("lone_surrogate", "string contains a lone surrogate");
      return;
    case "number":
      if (!Number.isFinite(value)) fail("non_finite_number", "number is NaN or infinite");
      return;
    case "boolean":
      return;
    case "object":
      break;
    default:
      fail("invalid_type", `${describe(value)} is not a JSON type`);
  }
  if (value === null) return;
  if (depth >= maxDepth) fail("nesting_too_deep", `nesting deeper than ${maxDepth}`);
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      trail?.push(i);
      if (!(i in value)) fail("invalid_type", "an array hole is not a JSON value");
      check(value[i], depth + 1, maxDepth);
      trail?.pop();
    }
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== objectProto && proto !== null) fail("invalid_type", `${describe(value)} is not a JSON type`);
  if (Object.getOwnPropertySymbols(value).length !== 0) {
    fail("invalid_type", "object keys must be strings (found a symbol)");
  }
  const keys = Object.keys(value);
  for (let i = 0; i < keys.length; i++) {
    const key = keys[i];
    trail?.push(key);
    if (!wellFormed(key)) fail("lone_surrogate", "member name contains a lone surrogate");
    check(value[key], depth + 1, maxDepth);
    trail?.pop();
  }
}

/** Throws the ProofMessengerError for the first problem of `value`, if any. */
function validate(value, maxDepth) {
  trail = null;
  try {
    check(value, 0, maxDepth);
  } catch (e) {
    if (e !== FOUND) throw e;
    trail = [];
    try {
      check(value, 0, maxDepth);
    } finally {
      trail = null;
    }
  }
}

/**
 * Checks `value` and returns its JSON text.
 *
 * @param {unknown} value a JSON value made of plain objects, arrays, strings,
 *   finite numbers, booleans and null
 * @param {number} maxDepth deepest accepted nesting (outermost container = 1)
 */
export function toJsonText(value, maxDepth = DEFAULT_MAX_DEPTH) {
  validate(value, maxDepth);
  return JSON.stringify(value);
}

/** JSON text (string) or bytes for the WASM module's byte-oriented entry points. */
export function toJsonBytes(input, maxDepth) {
  if (typeof input === "string") {
    // TextEncoder would replace a lone surrogate with U+FFFD and change the input.
    if (!wellFormed(input)) throw new ProofMessengerError("lone_surrogate", "$: string contains a lone surrogate");
    return encoder.encode(input);
  }
  if (input instanceof Uint8Array) return input;
  if (input instanceof ArrayBuffer) return new Uint8Array(input);
  if (ArrayBuffer.isView(input)) return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
  return encoder.encode(toJsonText(input, maxDepth));
}

const encoder = new TextEncoder();
