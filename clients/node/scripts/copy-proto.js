'use strict';
// npm pack: ships the contract inside the package, since the client loads it at run time.
const fs = require('node:fs');
const path = require('node:path');

const from = path.join(__dirname, '..', '..', '..', 'proto', 'twigz');
const to = path.join(__dirname, '..', 'proto', 'twigz');
fs.rmSync(to, { recursive: true, force: true });
fs.cpSync(from, to, { recursive: true });
console.log(`copied ${from} to ${to}`);
