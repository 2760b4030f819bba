// Sleeps without end: a timer keeps the event loop alive and uses no CPU.
setInterval(() => {}, 1 << 30);
