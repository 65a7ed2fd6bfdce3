/**
 * The pure parts of @edgefleet/protocol the dashboard runs in the browser: label selectors
 * (the same parser and matcher as the server and the CLI) and the fleet's error type.
 *
 * They are imported from their source files because the package's entry point also brings
 * the Node-only API client (undici, node:fs queues), which cannot load in a browser. These
 * three files import nothing but each other. Types come from the package itself
 * (`import type … from '@edgefleet/protocol'`, erased at build).
 */
export { EdgefleetError, isErrorBody, isErrorCode } from '../../protocol/src/errors.js';
export type { Labels } from '../../protocol/src/labels.js';
export { formatSelector, matchesSelector, parseSelector, type Selector, selectorFromMatch } from '../../protocol/src/selector.js';
