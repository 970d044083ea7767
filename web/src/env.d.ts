/** Vite bundles CSS imported for its side effect into a file served from 'self'. */
declare module '*.css';
