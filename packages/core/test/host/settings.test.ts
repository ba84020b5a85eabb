import { describe, expect, it } from 'vitest';
import {
  defaultHostPoolSettings,
  inheritedExecArgv,
  validateHostPoolSettings,
} from '../../src/host/settings.js';

describe('host settings', () => {
  it('default to the cores, and validate each value by the name its owner uses', () => {
    const settings = defaultHostPoolSettings();
    expect(settings.maxHosts).toBeGreaterThanOrEqual(1);
    expect(() => validateHostPoolSettings(settings)).not.toThrow();
    const names = { maxHosts: 'maxThreads' };
    for (const [key, value, message] of [
      ['maxHosts', 0, /maxThreads must be an integer >= 1/],
      ['hostConcurrency', 1.5, /hostConcurrency must be an integer >= 1/],
      ['maxWaitingRequests', -1, /maxWaitingRequests must be an integer >= 0/],
      ['maxRequestsPerHost', 0, /maxRequestsPerHost must be an integer >= 1 or null/],
      ['hostIdleTimeout', -5, /hostIdleTimeout must be null or a number of ms >= 0/],
      ['requestTimeLimit', 0, /requestTimeLimit must be null or a number of ms > 0/],
      ['hostExecArgv', ['--x', 1], /hostExecArgv must be null or an array of strings/],
    ] as const) {
      expect(() => validateHostPoolSettings({ ...settings, [key]: value }, names)).toThrow(
        expect.objectContaining({
          code: 'ERR_SOCKETSERVER_INVALID_ARGUMENT',
          message: expect.stringMatching(message),
        }),
      );
    }
  });

  it('name the new setting when a server still has an old one', () => {
    expect(() =>
      validateHostPoolSettings(defaultHostPoolSettings(), {}, { maxQueuedRequests: 5 }),
    ).toThrow(/maxQueuedRequests is now maxWaitingRequests/);
    expect(() =>
      validateHostPoolSettings(defaultHostPoolSettings(), {}, { maxRequestsPerChild: 1 }),
    ).toThrow(/maxRequestsPerHost/);
  });

  it('children inherit the parent options without debugger, eval, watch and test flags', () => {
    expect(
      inheritedExecArgv([
        '--import',
        'tsx',
        '--inspect=0',
        '-e',
        'code()',
        '--eval=more()',
        '--input-type',
        'module',
        '--watch',
        '--max-old-space-size=100',
        '--conditions=dev',
      ]),
    ).toEqual(['--import', 'tsx', '--max-old-space-size=100', '--conditions=dev']);
  });
});
