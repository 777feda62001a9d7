declare module 'sanitize-html' {
  export default function sanitizeHtml(dirty: string, options?: object): string;
}
