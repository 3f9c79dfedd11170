// Shared helpers of the node --test suite.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
export const VECTORS = path.join(ROOT, "tests", "vectors");

export function vectors(name) {
  return JSON.parse(readFileSync(path.join(VECTORS, name), "utf8"));
}

export const hex = (bytes) => Buffer.from(bytes).toString("hex");
export const fromHex = (text) => new Uint8Array(Buffer.from(text, "hex"));
export const fromB64 = (text) => new Uint8Array(Buffer.from(text, "base64"));

/** The code of the ProofMessengerError `fn` throws, or "ok" and its result. */
export function outcome(fn) {
  try {
    return { code: "ok", value: fn() };
  } catch (e) {
    if (e?.name !== "ProofMessengerError") throw e;
    return { code: e.code, value: undefined };
  }
}
