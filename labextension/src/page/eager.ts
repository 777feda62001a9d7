// lazy.ts and load-app.ts for the standalone build: everything is in the one script already.

import * as controls from '@jupyter-widgets/controls';
import * as outputPackage from '@jupyter-widgets/output';
import * as app from './app';
import * as federated from './federated';
import * as math from './math';
import * as output from './output';
import * as sanitizer from './sanitizer';

export const loadOutput = () => Promise.resolve(output);
export const loadSanitizer = () => Promise.resolve(sanitizer);
export const loadFederated = () => Promise.resolve(federated);
export const loadMath = () => Promise.resolve(math);
export const loadApp = () => Promise.resolve(app);
export const loadControls = () => Promise.resolve(controls);
export const loadOutputPackage = () => Promise.resolve(outputPackage);
