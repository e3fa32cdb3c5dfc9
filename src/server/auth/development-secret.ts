/**
 * Development without AUTH_SECRET: a random secret, generated once and kept
 * beside the embedded database (`.data/auth-secret`, readable by its owner
 * only), so sessions survive restarts and nobody can mint cookies with a
 * value published in the repository. Production never gets here: env.js
 * requires AUTH_SECRET there.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";

export function developmentSecret(file: string): string {
  try {
    const existing = readFileSync(file, "utf8").trim();
    if (existing.length >= 32) return existing;
  } catch {
    // not created yet
  }
  const secret = randomBytes(32).toString("base64url");
  mkdirSync(dirname(file), { recursive: true });
  try {
    // `wx`: if another process created it meanwhile, keep theirs.
    writeFileSync(file, `${secret}\n`, { mode: 0o600, flag: "wx" });
    return secret;
  } catch {
    return readFileSync(file, "utf8").trim();
  }
}
