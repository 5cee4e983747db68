// ESLint (flat config) over the web client and its browser tests.
import js from '@eslint/js';
import globals from 'globals';

export default [
  { ignores: ['vendor/**', 'node_modules/**'] },
  js.configs.recommended,
  {
    files: ['app/**/*.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: globals.browser },
    rules: {
      'no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      eqeqeq: 'error',
      'no-var': 'error',
      'prefer-const': 'error',
      // User text goes in as text: htm escapes it, and nothing may bypass that.
      'no-restricted-syntax': [
        'error',
        { selector: "Identifier[name='dangerouslySetInnerHTML']", message: 'never insert text as HTML' },
        { selector: 'TemplateElement[value.raw=/dangerouslySetInnerHTML/]', message: 'never insert text as HTML' },
        { selector: "MemberExpression[property.name=/^(innerHTML|outerHTML)$/]", message: 'never insert text as HTML' },
        { selector: "CallExpression[callee.property.name='insertAdjacentHTML']", message: 'never insert text as HTML' },
      ],
      'no-restricted-properties': ['error', { object: 'document', property: 'write' }],
    },
  },
  {
    files: ['tests/**/*.js', 'eslint.config.js'],
    languageOptions: { ecmaVersion: 2022, sourceType: 'module', globals: { ...globals.node, ...globals.browser } },
  },
];
