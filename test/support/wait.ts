// The one waitFor and withDeadline live in src/testing (zkts/testing uses them too).
export { scaled, timeFactor, waitFor, withDeadline, type WaitOptions } from '../../src/testing/wait.js';
