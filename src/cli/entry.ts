import { main } from './main.js';

// The process entry: `bin/allmap.js` runs the compiled copy of this file.
await main(process.argv);
