// The real HTML sanitizer, loaded on demand by sanitize.ts.

export { default } from 'sanitize-html';
