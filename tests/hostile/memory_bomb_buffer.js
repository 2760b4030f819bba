// Off-heap memory: Buffers live outside the V8 heap, so V8's own heap limit never stops
// them. 16 MiB at a time, each filled so the pages are really charged.
const kept = [];
for (;;) {
  kept.push(Buffer.alloc(16 << 20, kept.length & 0xff));
}
