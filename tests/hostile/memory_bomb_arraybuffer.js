// Off-heap memory through ArrayBuffer backing stores, 16 MiB at a time, every byte written.
const kept = [];
for (;;) {
  const bytes = new Uint8Array(new ArrayBuffer(16 << 20));
  bytes.fill(kept.length & 0xff);
  kept.push(bytes);
}
