// Writes to stdout without end, synchronously, never waiting for the pipe to drain.
const fs = require("fs");
const block = Buffer.alloc(65536, "y");
for (;;) {
  fs.writeSync(1, block);
}
