// `npm run test:hosts`: the many-hosts tests (network namespaces; root on Linux). One cluster at a time.
import base from './ava.config.js';

export default { ...base, files: ['dist/test/hosts/**/*.test.js'], timeout: '5m', concurrency: 1 };
