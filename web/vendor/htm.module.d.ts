// Types for the vendored file beside this one (see preact.module.d.ts).
import htm from 'htm';
export default htm;
