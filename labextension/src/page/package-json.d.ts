// federated.ts reads the version of the packages it shares; esbuild keeps only that field.
declare module '*/package.json' {
  export const version: string;
}
