// Types for the vendored file beside this one: those of the same version
// of the npm package, which web/package.json installs for the type checker.
export * from 'preact';
