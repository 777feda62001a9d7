// esbuild gathers imported stylesheets into client-HASH.css; they export nothing.
declare module '*.css';
