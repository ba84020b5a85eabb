/**
 * Preloaded into each child process of `--mode forking` (through the
 * mix-in's `childExecArgv`, as `--import`). Ctrl-C in a terminal sends
 * SIGINT to the whole foreground process group, the forked children
 * included; by default a child would die at once and take its request in
 * flight with it. Here only the parent acts on SIGINT: it stops taking
 * requests, and the mix-in retires each child when its request is done (a
 * child whose parent is gone exits on its own).
 *
 * @module
 */
process.on('SIGINT', () => {
  // Ignored on purpose: the parent shuts down gracefully and retires this child.
});
