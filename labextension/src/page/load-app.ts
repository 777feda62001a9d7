// The widgets' code, which the page client's small entry loads once it has
// opened the socket (a chunk the page preloads). The standalone build (a single
// classic script) swaps this module for eager.ts.

export const loadApp = () => import('./app');
