// `npm test`: unit and integration tests, compiled to dist/ first.
export default {
  files: ['dist/test/unit/**/*.test.js', 'dist/test/integration/**/*.test.js'],
  timeout: '3m',
  concurrency: 2,
  workerThreads: false,
  verbose: true,
};
