import { measureClientBundle } from './client-build.js';
console.log(JSON.stringify(await measureClientBundle(), null, 1));
