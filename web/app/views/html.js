// Tagged templates for Preact (htm): markup without a build step. htm
// passes `${text}` as text, never as HTML, so names and chat are safe.
import { h } from '../../vendor/preact.module.js';
import htm from '../../vendor/htm.module.js';

export const html = htm.bind(h);
