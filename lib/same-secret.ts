// Comparing a submitted secret (a token, the hook secret, a CSRF token) with the real one in constant time.
import { createHash, timingSafeEqual } from "node:crypto";

/**
 * Whether `a` and `b` are the same string, taking as long whatever they hold: both are hashed first, so that
 * neither their lengths nor the first differing byte show in the time it takes.
 */
export function sameSecret(a: string, b: string): boolean {
  const ha = createHash("sha256").update(a).digest();
  const hb = createHash("sha256").update(b).digest();
  return timingSafeEqual(ha, hb);
}
