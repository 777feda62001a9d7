// The parts of the page client that load on demand, as separate chunks. The
// standalone build (a single classic script) swaps this module for eager.ts.

export const loadOutput = () => import('./output');
export const loadSanitizer = () => import('./sanitizer');
export const loadFederated = () => import('./federated');
export const loadMath = () => import('./math');
