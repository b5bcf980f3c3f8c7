// Blurhash placeholders: decoded to a tiny canvas and used as a blurred background while loading.
import { decode, isBlurhashValid } from 'blurhash';

export function isBlurhash(hash: string | null | undefined): hash is string {
  if (!hash || hash.length < 6) return false;
  try {
    return isBlurhashValid(hash).result;
  } catch {
    return false;
  }
}

/** Decode to RGBA pixels (width*height*4), or null when the string is not a blurhash. */
export function decodePlaceholder(hash: string | null | undefined, width = 32, height = 32): Uint8ClampedArray | null {
  if (!isBlurhash(hash)) return null;
  try {
    return decode(hash, width, height);
  } catch {
    return null;
  }
}

const cache = new Map<string, string>();

/** A data: URL of the decoded placeholder (cached), or null when no canvas or no valid hash. */
export function placeholderDataUrl(hash: string | null | undefined, width = 32, height = 32): string | null {
  if (!hash) return null;
  if (hash.startsWith('data:')) return hash;
  const key = `${hash}|${width}x${height}`;
  const hit = cache.get(key);
  if (hit) return hit;
  const pixels = decodePlaceholder(hash, width, height);
  if (!pixels || typeof document === 'undefined') return null;
  const canvas = document.createElement('canvas');
  canvas.width = width;
  canvas.height = height;
  let ctx: CanvasRenderingContext2D | null = null;
  try {
    ctx = canvas.getContext('2d');
  } catch {
    ctx = null;
  }
  if (!ctx) return null;
  const img = ctx.createImageData(width, height);
  img.data.set(pixels);
  ctx.putImageData(img, 0, 0);
  const url = canvas.toDataURL();
  cache.set(key, url);
  return url;
}
