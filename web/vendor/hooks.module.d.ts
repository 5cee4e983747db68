// Types for the vendored file beside this one (see preact.module.d.ts).
export * from 'preact/hooks';
