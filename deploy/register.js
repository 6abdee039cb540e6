// Runs TypeScript directly (swc, with decorator metadata and tsconfig paths), no build step.
process.env.SWC_NODE_PROJECT = process.env.SWC_NODE_PROJECT || require('path').join(__dirname, '..', 'tsconfig.json');
require('@swc-node/register');
require('reflect-metadata');
