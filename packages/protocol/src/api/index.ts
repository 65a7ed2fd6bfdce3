/** The API contract: the route table, its response shapes, and the client generated from it. */
export * from './client-core.js';
export * from './fetch-transport.js';
export * from './routes.js';
export * from './views.js';
