// A tiny seeded PRNG (sfc32) and the choices the generator makes with it. Request i draws from its own stream
// (seed, i), so a run's request sequence does not depend on concurrency or on what the server answered.

function sfc32(a, b, c, d) {
  return () => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

export class Rng {
  constructor(seed, stream = 0) {
    this.next = sfc32(0x9e3779b9, seed >>> 0, stream >>> 0, (seed ^ 0xdeadbeef) >>> 0);
    for (let i = 0; i < 15; i++) this.next();
  }
  /** Integer in [min, max]. */
  int(min, max) {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  chance(p) {
    return this.next() < p;
  }
  pick(list) {
    return list[Math.floor(this.next() * list.length)];
  }
  /** `[[weight, value], …]` → one value. */
  weighted(entries) {
    const total = entries.reduce((sum, [w]) => sum + w, 0);
    let r = this.next() * total;
    for (const [w, v] of entries) if ((r -= w) < 0) return v;
    return entries[entries.length - 1][1];
  }
  string(min = 1, max = 12, alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789-_') {
    let out = '';
    const len = this.int(min, max);
    for (let i = 0; i < len; i++) out += alphabet[Math.floor(this.next() * alphabet.length)];
    return out;
  }
}
