// `npm test`: unit and integration tests, compiled to dist/ first.
export default {
  files: ['dist/test/unit/**/*.test.js', 'dist/test/integration/**/*.test.js'],
  timeout: '3m',
  // Two files at a time, and the tests of a file one at a time: at most two
  // clusters run at once on CI's two cores (a file's tests each start one).
  concurrency: 2,
  serial: true,
  workerThreads: false,
  verbose: true,
};
