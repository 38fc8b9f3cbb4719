export * from './constants.js';
export * from './jute.js';
export * from './records.js';
export * from './framing.js';
