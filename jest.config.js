/** One jest run for the whole monorepo: unit, integration (real PostgreSQL) and end-to-end. */
const swc = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true, useDefineForClassFields: false },
      target: 'es2022',
    },
    module: { type: 'commonjs', ignoreDynamic: true },
  },
];

module.exports = {
  testEnvironment: 'node',
  testMatch: ['<rootDir>/{packages,subgraphs,gateway,test}/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  // jose 6 ships ESM only; jest's CommonJS runtime needs it transformed.
  transformIgnorePatterns: ['/node_modules/(?!(jose)/)'],
  transform: { '^.+\\.(t|j)s$': swc },
  globalSetup: '<rootDir>/test/setup/global-setup.ts',
  globalTeardown: '<rootDir>/test/setup/global-teardown.ts',
  setupFiles: ['<rootDir>/test/setup/env.ts'],
  testTimeout: 60000,
  maxWorkers: 2,
  reporters: ['default', '<rootDir>/test/setup/counts-reporter.js'],
};
