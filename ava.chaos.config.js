// `npm run test:chaos`: the long fault-injection runs (bounded in rounds and time).
import base from './ava.config.js';

export default { ...base, files: ['dist/test/chaos/**/*.test.js'], timeout: '15m', concurrency: 1 };
