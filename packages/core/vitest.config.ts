import { defineProject } from 'vitest/config';
import { hostRuntimeVitePlugin } from './build/host-runtime.js';

export default defineProject({
  plugins: [hostRuntimeVitePlugin()],
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 20_000,
    hookTimeout: 20_000,
  },
});
